package packer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/klauspost/compress/gzip"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// chartKeepSize is the largest plain chart file loadChart keeps in memory.
// Larger files that helm only carries along (not templates, subcharts or
// the chart's metadata and values) are read through and checked, not kept.
const chartKeepSize = 64 << 10

var (
	utf8BOM          = []byte("\xEF\xBB\xBF")
	drivePathPattern = regexp.MustCompile(`^[a-zA-Z]:/`)
)

// loadChart loads a chart archive with helm's loader, streaming it: it
// applies the checks helm's loader.LoadArchiveFiles applies, with helm's
// limits and messages, reads the whole archive so gzip verifies it, and
// hands helm's loader.LoadFiles every file, keeping in memory only what
// helm parses. Memory stays small however large the chart's bundled files.
func loadChart(name string) (*chart.Chart, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(512)
	if !bytes.HasPrefix(head, []byte("\x1F\x8B\x08")) {
		return nil, fmt.Errorf("file '%s' does not appear to be a gzipped archive; got '%s'", name, http.DetectContentType(head))
	}
	zr, err := gzip.NewReader(br)
	if errors.Is(err, io.EOF) {
		// The magic is there, so the header is cut short: helm's gzip
		// reader says so.
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var files []*loader.BufferedFile
	remaining := loader.MaxDecompressedChartSize
	tr := tar.NewReader(zr)
	for {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if hd.FileInfo().IsDir() || hd.Typeflag == tar.TypeXGlobalHeader || hd.Typeflag == tar.TypeXHeader {
			continue
		}
		delimiter := "/"
		if strings.ContainsRune(hd.Name, '\\') {
			delimiter = `\`
		}
		parts := strings.Split(hd.Name, delimiter)
		n := strings.ReplaceAll(strings.Join(parts[1:], delimiter), delimiter, "/")
		if path.IsAbs(n) {
			return nil, errors.New("chart illegally contains absolute paths")
		}
		n = path.Clean(n)
		switch {
		case n == ".":
			return nil, fmt.Errorf("chart illegally contains content outside the base directory: %q", hd.Name)
		case strings.HasPrefix(n, ".."):
			return nil, errors.New("chart illegally references parent directory")
		case drivePathPattern.MatchString(n):
			return nil, errors.New("chart contains illegally named files")
		case parts[0] == "Chart.yaml":
			return nil, errors.New("chart yaml not in base directory")
		case hd.Size > remaining:
			return nil, fmt.Errorf("decompressed chart is larger than the maximum file size %d", loader.MaxDecompressedChartSize)
		case hd.Size > loader.MaxDecompressedFileSize:
			return nil, fmt.Errorf("decompressed chart file %q is larger than the maximum file size %d", hd.Name, loader.MaxDecompressedFileSize)
		}
		var data []byte
		var read int64
		if hd.Size <= chartKeepSize || chartParses(n) {
			data, err = io.ReadAll(io.LimitReader(tr, remaining))
			read = int64(len(data))
			data = bytes.TrimPrefix(data, utf8BOM)
		} else {
			read, err = io.Copy(io.Discard, io.LimitReader(tr, remaining))
		}
		if err != nil {
			return nil, err
		}
		remaining -= read
		if read < hd.Size || remaining <= 0 {
			return nil, fmt.Errorf("decompressed chart is larger than the maximum file size %d", loader.MaxDecompressedChartSize)
		}
		files = append(files, &loader.BufferedFile{Name: n, Data: data})
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no files in chart archive")
	}
	return loader.LoadFiles(files)
}

// chartParses says whether helm's loader parses a chart file (as opposed
// to carrying it along as an opaque file).
func chartParses(n string) bool {
	switch n {
	case "Chart.yaml", "Chart.lock", "values.yaml", "values.schema.json", "requirements.yaml", "requirements.lock":
		return true
	}
	return strings.HasPrefix(n, "templates/") || strings.HasPrefix(n, "charts/")
}
