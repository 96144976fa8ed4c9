package packer_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/packyard/packyard/pkg/ocilayout"
	"github.com/packyard/packyard/pkg/packer"
)

func ExampleLint() {
	ctx := context.Background()
	r, err := packer.Lint(ctx, "../../testdata/packs/kubewatch-3.5.0", packer.LintOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pack:", r.Name, r.Version)
	for _, c := range r.Charts {
		fmt.Printf("chart: %s %s (%s)\n", c.Name, c.Version, c.Path)
	}
	fmt.Printf("%d errors, %d warnings\n", r.Errors(), r.Warnings())
	for _, f := range r.Findings {
		fmt.Println(f)
	}
	// Output:
	// pack: kubewatch 3.5.0
	// chart: kubewatch 3.5.0 (charts/kubewatch-3.5.0.tgz)
	// 0 errors, 0 warnings
}

func ExampleBuildToLayout() {
	ctx := context.Background()
	p, err := packer.Load(ctx, "../../testdata/packs/kubewatch-3.5.0")
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "packyard-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	// Builds are reproducible: the digests are the same on every machine.
	res, err := packer.BuildToLayout(ctx, p, filepath.Join(tmp, "layout"), packer.BuildOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tag:", res.Tag)
	fmt.Println("native:", res.Native.Manifest.Digest)
	fmt.Println("palette:", res.Palette.Manifest.Digest)
	// Output:
	// tag: 3.5.0
	// native: sha256:fc8a162509bfb6d14945112ce635356d60f36247da8dff80d65b251d8d438b72
	// palette: sha256:3a1c2ffc7b01e48804ea5c777310c0bb57547a73a1b6a67a0e424fd17aa7e598
}

func ExampleUnpack() {
	ctx := context.Background()
	p, err := packer.Load(ctx, "../../testdata/packs/hello-universe-1.3.1")
	if err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "packyard-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "layout")
	res, err := packer.BuildToLayout(ctx, p, root, packer.BuildOptions{})
	if err != nil {
		log.Fatal(err)
	}
	layout, err := ocilayout.Open(root)
	if err != nil {
		log.Fatal(err)
	}
	// Either encoding unpacks back into the same pack folder.
	for _, a := range res.Artifacts() {
		out, err := packer.Unpack(ctx, layout, a.Manifest, filepath.Join(tmp, a.Encoding), packer.UnpackOptions{})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s %s, %d files, top folder %q\n", out.Encoding, out.Name, out.Version, out.Files, out.TopFolder)
	}
	// Output:
	// native: hello-universe 1.3.1, 7 files, top folder ""
	// palette: hello-universe 1.3.1, 7 files, top folder "hello-universe-1.3.1"
}

func ExampleVersionTag() {
	for _, v := range []string{"1.2.3", "1.0.0+build.5", "2.0.0-rc.1+git.abc"} {
		fmt.Println(packer.VersionTag(v))
	}
	// Output:
	// 1.2.3
	// 1.0.0_build.5
	// 2.0.0-rc.1_git.abc
}
