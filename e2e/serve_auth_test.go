package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/packyard/packyard/internal/testfs"
)

// authServed is a `packyard serve` with htpasswd auth.
type authServed struct {
	*served
	// User and Password are the one login of its htpasswd file.
	User, Password string
	// CAFile is the CA that signed its certificate; empty for plain HTTP.
	CAFile string
}

// authServeOptions pick how the server is set up.
type authServeOptions struct {
	// TLS serves HTTPS with a certificate for 127.0.0.1 signed by a CA
	// made for the test.
	TLS bool
	// AnonymousPull lets requests without credentials read.
	AnonymousPull bool
	// FromEnvironment configures auth and TLS with REGISTRY_* variables
	// over the default configuration, rather than in a configuration file.
	FromEnvironment bool
	// LogLevel is --log-level; empty for the default.
	LogLevel string
}

// serveWithAuth starts `packyard serve` protected by an htpasswd file.
func serveWithAuth(t *testing.T, o authServeOptions) *authServed {
	t.Helper()
	dir := t.TempDir()
	s := &authServed{User: "publisher", Password: "pw-" + rand.Text()}
	hash, err := bcrypt.GenerateFromPassword([]byte(s.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(s.User+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cert, key string
	if o.TLS {
		s.CAFile, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		writeTestCA(t, s.CAFile, cert, key)
	}
	var env, args []string
	if o.LogLevel != "" {
		args = append(args, "--log-level", o.LogLevel)
	}
	data := filepath.Join(dir, "data")
	if o.FromEnvironment {
		env = []string{
			"REGISTRY_AUTH=htpasswd",
			"REGISTRY_AUTH_HTPASSWD_REALM=packyard-e2e",
			"REGISTRY_AUTH_HTPASSWD_PATH=" + htpasswd,
			fmt.Sprintf("REGISTRY_AUTH_HTPASSWD_ANONYMOUSPULL=%t", o.AnonymousPull),
		}
		if o.TLS {
			env = append(env, "REGISTRY_HTTP_TLS_CERTIFICATE="+cert, "REGISTRY_HTTP_TLS_KEY="+key)
		}
		args = append(args, "--data", data)
	} else {
		var tls string
		if o.TLS {
			tls = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", cert, key)
		}
		config := fmt.Sprintf(`version: 0.1
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
%sauth:
  htpasswd:
    realm: packyard-e2e
    path: %s
    anonymouspull: %t
`, data, tls, htpasswd, o.AnonymousPull)
		file := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", file)
	}
	s.served = serve(t, env, args...)
	return s
}

// remote are the packyard flags that reach the server: --ca-file or
// --plain-http.
func (s *authServed) remote() []string {
	if s.CAFile != "" {
		return []string{"-r", s.Host, "--ca-file", s.CAFile}
	}
	return plainRemote(s.Host)
}

// login logs env in as the server's user.
func (s *authServed) login(t *testing.T, env *clientEnv) {
	t.Helper()
	args := []string{"registry", "login", s.Host, "-u", s.User, "--password-stdin"}
	res := env.runStdin(t, repoRoot, s.Password+"\n", packyardBin, append(args, s.remote()[2:]...)...)
	if res.code != 0 || !strings.Contains(res.stdout, "logged in to "+s.Host) {
		t.Fatalf("registry login: exit status %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
}

// expectRefused checks that a command failed with exit status 1 and an
// error that holds every one of want (in any case).
func expectRefused(t *testing.T, what string, res result, want ...string) {
	t.Helper()
	lower := strings.ToLower(res.stderr)
	ok := res.code == 1
	for _, w := range want {
		ok = ok && strings.Contains(lower, strings.ToLower(w))
	}
	if !ok {
		t.Errorf("%s: exit status %d, want 1 and an error saying %q\nstdout:\n%s\nstderr:\n%s", what, res.code, want, res.stdout, res.stderr)
	}
}

// packNames lists the pack names `pack ls -o json` printed.
func packNames(t *testing.T, stdout string) []string {
	t.Helper()
	var names []string
	for _, v := range jsonObjects(t, "pack ls -o json", stdout, func(v map[string]any) bool {
		_, named := v["name"].(string)
		_, versions := v["versions"]
		return named && versions
	}) {
		names = append(names, v["name"].(string))
	}
	return names
}

// `packyard serve` with htpasswd and TLS from a custom CA, configured from
// REGISTRY_* variables, driven by the packyard CLI: nothing is pushed or
// read without a login, a wrong password is refused, and the client
// refuses a certificate it cannot verify and plain HTTP to an HTTPS
// server, each with advice.
func TestServeAuthHtpasswdTLS(t *testing.T) {
	t.Parallel()
	s := serveWithAuth(t, authServeOptions{TLS: true, FromEnvironment: true})
	publisher, stranger := newClientEnv(t), newClientEnv(t)
	dir := filepath.Join("examples", "hello-manifests")
	name, version := packMeta(t, dir)
	ref := name + ":" + version

	res := publisher.packyard(t, pushArgs([]string{dir}, s.remote())...)
	expectRefused(t, "push without login", res, "unauthorized", "packyard registry login "+s.Host)

	wrong := "not-" + s.Password
	res = publisher.runStdin(t, repoRoot, wrong+"\n", packyardBin, "registry", "login", s.Host, "-u", s.User, "--password-stdin", "--ca-file", s.CAFile)
	expectRefused(t, "login with a wrong password", res, "unauthorized")
	res = publisher.runStdin(t, repoRoot, s.Password+"\n", packyardBin, "registry", "login", s.Host, "-u", "nobody", "--password-stdin", "--ca-file", s.CAFile)
	expectRefused(t, "login as an unknown user", res, "unauthorized")

	s.login(t, publisher)
	res = publisher.mustPackyard(t, pushArgs([]string{dir}, s.remote(), "-o", "json")...)
	if arts := pushedArtifacts(t, res.stdout); len(arts) != 2 {
		t.Errorf("push after login reported %d artifacts, want 2:\n%s", len(arts), res.stdout)
	}
	out := filepath.Join(t.TempDir(), "pulled")
	publisher.mustPackyard(t, append([]string{"pack", "pull", ref, out}, s.remote()...)...)
	testfs.SameTree(t, abs(dir), out)

	// No anonymous reads: this server does not allow them.
	res = stranger.packyard(t, append([]string{"pack", "pull", ref, filepath.Join(t.TempDir(), "anonymous")}, s.remote()...)...)
	expectRefused(t, "anonymous pull", res, "unauthorized", "packyard registry login "+s.Host)
	res = stranger.packyard(t, append([]string{"pack", "ls"}, s.remote()...)...)
	expectRefused(t, "anonymous ls", res, "unauthorized", "packyard registry login "+s.Host)
	res = stranger.run(t, t.TempDir(), orasBin, "pull", "--ca-file", s.CAFile, s.Host+"/packs/"+name+":"+packTag(version))
	if res.code == 0 || !strings.Contains(res.stderr, "credential") {
		t.Errorf("anonymous oras pull: exit status %d, want a failure for want of a credential\n%s", res.code, res.stderr)
	}

	// TLS: the CA must be named, and no other CA will do.
	res = publisher.packyard(t, "pack", "pull", ref, filepath.Join(t.TempDir(), "no-ca"), "-r", s.Host)
	expectRefused(t, "pull without --ca-file", res, "certificate", "--ca-file")
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	writeTestCA(t, otherCA, filepath.Join(t.TempDir(), "c.pem"), filepath.Join(t.TempDir(), "k.pem"))
	res = publisher.packyard(t, "pack", "pull", ref, filepath.Join(t.TempDir(), "other-ca"), "-r", s.Host, "--ca-file", otherCA)
	expectRefused(t, "pull with another CA", res, "certificate", "--ca-file")
	// Plain HTTP only when asked for, and it fails against HTTPS.
	res = publisher.packyard(t, "pack", "pull", ref, filepath.Join(t.TempDir(), "plain"), "-r", s.Host, "--plain-http")
	expectRefused(t, "pull with --plain-http from an HTTPS server", res, "HTTPS", "leave out --plain-http")
	res = publisher.packyard(t, pushArgs([]string{dir}, plainRemote(s.Host))...)
	expectRefused(t, "push with --plain-http to an HTTPS server", res, "HTTPS", "leave out --plain-http")

	// Deleting needs the login too (and this pack version is immutable).
	res = stranger.packyard(t, append([]string{"pack", "delete", ref}, s.remote()...)...)
	expectRefused(t, "anonymous delete", res, "unauthorized", "packyard registry login "+s.Host)
}

// With anonymouspull in its configuration file, `packyard serve` lets
// anyone pull and list, packyard and oras alike, and still wants a user to
// push or delete; a wrong password is refused all the same.
func TestServeAuthAnonymousPull(t *testing.T) {
	t.Parallel()
	s := serveWithAuth(t, authServeOptions{TLS: true, AnonymousPull: true})
	publisher, anonymous := newClientEnv(t), newClientEnv(t)
	dir := filepath.Join("examples", "hello-chart")
	name, version := packMeta(t, dir)
	ref := name + ":" + version

	res := anonymous.packyard(t, pushArgs([]string{dir}, s.remote())...)
	expectRefused(t, "anonymous push", res, "unauthorized", "packyard registry login "+s.Host)
	res = anonymous.runStdin(t, repoRoot, "not-"+s.Password+"\n", packyardBin, "registry", "login", s.Host, "-u", s.User, "--password-stdin", "--ca-file", s.CAFile)
	expectRefused(t, "login with a wrong password", res, "unauthorized")
	if _, err := os.Stat(filepath.Join(anonymous.DockerConfig, "config.json")); err == nil {
		if c := readDockerConfig(t, anonymous); c.Auths[s.Host].Auth != "" {
			t.Errorf("a refused login was saved")
		}
	}

	s.login(t, publisher)
	publisher.mustPackyard(t, pushArgs([]string{dir}, s.remote())...)

	out := filepath.Join(t.TempDir(), "pulled")
	anonymous.mustPackyard(t, append([]string{"pack", "pull", ref, out}, s.remote()...)...)
	testfs.SameTree(t, abs(dir), out)
	res = anonymous.mustPackyard(t, append([]string{"pack", "ls", "-o", "json"}, s.remote()...)...)
	if got := packNames(t, res.stdout); !slices.Equal(got, []string{name}) {
		t.Errorf("anonymous pack ls: %q, want [%s]\n%s", got, name, res.stdout)
	}
	anonymous.mustPackyard(t, append([]string{"pack", "inspect", ref}, s.remote()...)...)
	orasOut := t.TempDir()
	anonymous.oras(t, orasOut, "pull", "--ca-file", s.CAFile, s.Host+"/packs/"+name+":"+packTag(version), "-o", orasOut)
	testfs.SameTree(t, abs(dir), orasOut)
	if got := strings.Fields(anonymous.crane(t, "catalog", s.Host, "--insecure").stdout); !slices.Contains(got, "packs/"+name) {
		t.Errorf("anonymous crane catalog: %q", got)
	}

	// Writes still need the login.
	res = anonymous.packyard(t, append([]string{"pack", "delete", ref}, s.remote()...)...)
	expectRefused(t, "anonymous delete", res, "unauthorized", "packyard registry login "+s.Host)
	res = anonymous.packyard(t, "pack", "copy", ref, "--from", s.Host, "--to", s.Host+"/copies", "--ca-file", s.CAFile)
	expectRefused(t, "anonymous copy", res, "unauthorized", "packyard registry login "+s.Host)
	if r := anonymous.run(t, orasOut, orasBin, "push", "--ca-file", s.CAFile, s.Host+"/scratch:1", "values.yaml"); r.code == 0 {
		t.Errorf("anonymous oras push succeeded:\n%s", r.stdout)
	}
	publisher.mustPackyard(t, "pack", "copy", ref, "--from", s.Host, "--to", s.Host+"/copies", "--ca-file", s.CAFile)
}

// anonymouspull works from REGISTRY_AUTH_HTPASSWD_ANONYMOUSPULL as well,
// here on a plain HTTP server: the client talks plain HTTP only with
// --plain-http, and says so.
func TestServeAuthAnonymousPullFromEnvironment(t *testing.T) {
	t.Parallel()
	s := serveWithAuth(t, authServeOptions{AnonymousPull: true, FromEnvironment: true})
	publisher, anonymous := newClientEnv(t), newClientEnv(t)
	dir := filepath.Join("examples", "hello-manifests")
	name, version := packMeta(t, dir)
	ref := name + ":" + version

	res := publisher.runStdin(t, repoRoot, s.Password+"\n", packyardBin, "registry", "login", s.Host, "-u", s.User, "--password-stdin")
	expectRefused(t, "login over HTTPS to a plain HTTP server", res, "plain HTTP", "--plain-http")
	s.login(t, publisher)
	publisher.mustPackyard(t, pushArgs([]string{dir}, s.remote())...)

	res = anonymous.packyard(t, "pack", "pull", ref, filepath.Join(t.TempDir(), "https"), "-r", s.Host)
	expectRefused(t, "pull without --plain-http", res, "plain HTTP", "--plain-http")
	out := filepath.Join(t.TempDir(), "pulled")
	anonymous.mustPackyard(t, append([]string{"pack", "pull", ref, out, "--format", "palette"}, s.remote()...)...)
	testfs.SameTree(t, abs(dir), out)
	orasOut := t.TempDir()
	anonymous.oras(t, orasOut, "pull", "--plain-http", s.Host+"/packs/"+name+":"+packTag(version), "-o", orasOut)
	testfs.SameTree(t, abs(dir), orasOut)
	res = anonymous.packyard(t, pushArgs([]string{filepath.Join("examples", "hello-chart")}, s.remote())...)
	expectRefused(t, "anonymous push", res, "unauthorized", "packyard registry login "+s.Host)
}
