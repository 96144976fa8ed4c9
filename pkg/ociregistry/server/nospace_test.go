package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	storagemiddleware "github.com/distribution/distribution/v3/registry/storage/driver/middleware"
	"github.com/opencontainers/go-digest"
)

// quotaMiddleware is a storage middleware that runs the storage out of
// space, as a full disk does: a write that would take a file beyond a
// size fails with ENOSPC, and from then on every write fails, until
// something is deleted.
const quotaMiddleware = "packyard.test.quota"

// quota is the state of one registry's quotaMiddleware.
type quota struct {
	// maxFile is the size no file may grow beyond.
	maxFile int64
	// full says the storage is full.
	full atomic.Bool
	// open counts the writers opened and not closed or cancelled.
	open atomic.Int64
}

// quotas are the quotas of the registries of the running tests, by the
// middleware's id option.
var quotas sync.Map

var registerQuota = sync.OnceValue(func() error {
	return storagemiddleware.Register(quotaMiddleware, func(_ context.Context, d storagedriver.StorageDriver, options map[string]any) (storagedriver.StorageDriver, error) {
		q, ok := quotas.Load(options["id"])
		if !ok {
			return nil, fmt.Errorf("no quota %v", options["id"])
		}
		return &quotaDriver{StorageDriver: d, q: q.(*quota)}, nil
	})
})

type quotaDriver struct {
	storagedriver.StorageDriver
	q *quota
}

func noSpace(op, p string) error {
	return &fs.PathError{Op: op, Path: p, Err: syscall.ENOSPC}
}

func (d *quotaDriver) PutContent(ctx context.Context, p string, content []byte) error {
	if d.q.full.Load() || int64(len(content)) > d.q.maxFile {
		d.q.full.Store(true)
		return noSpace("write", p)
	}
	return d.StorageDriver.PutContent(ctx, p, content)
}

func (d *quotaDriver) Writer(ctx context.Context, p string, append bool) (storagedriver.FileWriter, error) {
	w, err := d.StorageDriver.Writer(ctx, p, append)
	if err != nil {
		return nil, err
	}
	d.q.open.Add(1)
	return &quotaWriter{FileWriter: w, q: d.q, path: p}, nil
}

func (d *quotaDriver) Delete(ctx context.Context, p string) error {
	err := d.StorageDriver.Delete(ctx, p)
	if err == nil {
		d.q.full.Store(false)
	}
	return err
}

type quotaWriter struct {
	storagedriver.FileWriter
	q      *quota
	path   string
	closed bool
}

func (w *quotaWriter) Write(p []byte) (int, error) {
	if w.q.full.Load() || w.Size()+int64(len(p)) > w.q.maxFile {
		w.q.full.Store(true)
		return 0, noSpace("write", w.path)
	}
	return w.FileWriter.Write(p)
}

func (w *quotaWriter) done() {
	if !w.closed {
		w.closed = true
		w.q.open.Add(-1)
	}
}

func (w *quotaWriter) Close() error {
	w.done()
	return w.FileWriter.Close()
}

func (w *quotaWriter) Cancel(ctx context.Context) error {
	w.done()
	return w.FileWriter.Cancel(ctx)
}

// startQuota starts a registry on filesystem storage in dir whose files
// may not grow beyond maxFile bytes.
func startQuota(t *testing.T, dir string, maxFile int64) (*running, *quota) {
	t.Helper()
	if err := registerQuota(); err != nil {
		t.Fatal(err)
	}
	q := &quota{maxFile: maxFile}
	quotas.Store(t.Name(), q)
	t.Cleanup(func() { quotas.Delete(t.Name()) })
	cfg := filepath.Join(t.TempDir(), "registry.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  secret: quota-test
middleware:
  storage:
    - name: %s
      options:
        id: %q
`, dir, quotaMiddleware, t.Name()), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, ConfigOptions{File: cfg}, slog.LevelError), q
}

// do sends a request with body and returns the status, the Location
// header (absolute, as distribution gives it) and the body.
func do(t *testing.T, method, url string, body []byte, header ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), b.String()
}

// checkStorageFull fails the test unless status and body are the 507 of
// a full storage.
func checkStorageFull(t *testing.T, what string, status int, body string) {
	t.Helper()
	var env struct {
		Errors []struct{ Code, Message string }
	}
	if status != http.StatusInsufficientStorage || json.Unmarshal([]byte(body), &env) != nil || len(env.Errors) != 1 ||
		env.Errors[0].Code != "UNKNOWN" || env.Errors[0].Message != storageFullMessage {
		t.Fatalf("%s on a full storage: %d %s, want 507 saying the storage is full", what, status, body)
	}
}

// uploadsLeft lists the uploads of repo in the storage folder dir.
func uploadsLeft(t *testing.T, dir, repo string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "docker", "registry", "v2", "repositories", filepath.FromSlash(repo), "_uploads"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}

// A write that fails for want of space is answered with 507 and a message
// that says the storage is full, not distribution's bare 500; the upload
// it belonged to is dropped and its file closed, so that the space is
// free again; what the registry held stays readable, and once space is
// free the registry takes pushes again.
func TestStorageFull(t *testing.T) {
	dir := t.TempDir()
	const maxFile = 64 << 10
	r, q := startQuota(t, dir, maxFile)
	repo := r.repo(t, "packs/demo")
	ctx := context.Background()
	v1, b1 := nativePack(t, repo, "replicas: 1\n")
	if err := pushTagged(repo, v1, b1, "1.0.0"); err != nil {
		t.Fatal(err)
	}

	big := bytes.Repeat([]byte("x"), maxFile+1)
	bigDigest := digest.FromBytes(big)
	for _, tc := range []struct {
		name string
		// upload sends the blob to the upload at loc.
		upload func(t *testing.T, loc string) (int, string)
	}{
		{"monolithic PUT", func(t *testing.T, loc string) (int, string) {
			status, _, body := do(t, http.MethodPut, withQuery(loc, "digest", bigDigest.String()), big,
				"Content-Type", "application/octet-stream")
			return status, body
		}},
		{"chunk PATCH", func(t *testing.T, loc string) (int, string) {
			status, _, body := do(t, http.MethodPatch, loc, big,
				"Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("0-%d", len(big)-1))
			return status, body
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, loc, body := do(t, http.MethodPost, r.URL+"/v2/packs/demo/blobs/uploads/", nil)
			if status != http.StatusAccepted {
				t.Fatalf("starting an upload: %d %s", status, body)
			}
			status, body = tc.upload(t, loc)
			checkStorageFull(t, "uploading a blob", status, body)
			if n := q.open.Load(); n != 0 {
				t.Errorf("%d storage writers left open after the refused upload", n)
			}
			if ids := uploadsLeft(t, dir, "packs/demo"); len(ids) != 0 {
				t.Errorf("uploads left in storage: %v", ids)
			}
			if q.full.Load() {
				t.Error("dropping the upload freed no space")
			}
			if status, _, _ := do(t, http.MethodHead, r.URL+"/v2/packs/demo/blobs/"+bigDigest.String(), nil); status != http.StatusNotFound {
				t.Errorf("HEAD of the refused blob: %d, want 404", status)
			}
		})
	}

	// A manifest whose storing fails for want of space.
	v2, b2 := nativePack(t, repo, "replicas: 2\n")
	q.full.Store(true)
	status, _, body := do(t, http.MethodPut, r.URL+"/v2/packs/demo/manifests/2.0.0", b2, "Content-Type", v2.MediaType)
	checkStorageFull(t, "pushing a manifest", status, body)
	if n := q.open.Load(); n != 0 {
		t.Errorf("%d storage writers left open after the refused manifest", n)
	}
	q.full.Store(false)
	if _, err := repo.Resolve(ctx, "2.0.0"); err == nil {
		t.Error("the refused manifest's tag exists")
	}

	// What was pushed before stays whole, and pushes work again.
	if got, err := repo.Resolve(ctx, "1.0.0"); err != nil || got.Digest != v1.Digest {
		t.Fatalf("1.0.0 after the storage was full: %v, %v", got.Digest, err)
	}
	if status, _, body := do(t, http.MethodGet, r.URL+"/v2/packs/demo/manifests/1.0.0", nil, "Accept", v1.MediaType); status != http.StatusOK || body != string(b1) {
		t.Fatalf("GET 1.0.0: %d %s", status, body)
	}
	if err := pushTagged(repo, v2, b2, "2.0.0"); err != nil {
		t.Fatalf("pushing once space is free: %v", err)
	}
}

// Errors other than a want of space keep distribution's answer.
func TestStorageErrorsStayInternal(t *testing.T) {
	r, q := startQuota(t, t.TempDir(), 1<<20)
	status, loc, body := do(t, http.MethodPost, r.URL+"/v2/packs/demo/blobs/uploads/", nil)
	if status != http.StatusAccepted {
		t.Fatalf("starting an upload: %d %s", status, body)
	}
	// A digest that does not match is the client's error, and nothing
	// about space.
	status, _, body = do(t, http.MethodPut, withQuery(loc, "digest", digest.FromString("other").String()), []byte("data"))
	if status != http.StatusBadRequest || !strings.Contains(body, "DIGEST_INVALID") {
		t.Fatalf("PUT with a wrong digest: %d %s", status, body)
	}
	if q.full.Load() {
		t.Fatal("the storage filled up")
	}
}

func TestIsNoSpace(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"ENOSPC", syscall.ENOSPC, true},
		{"EDQUOT", syscall.EDQUOT, true},
		{"path error", &fs.PathError{Op: "write", Path: "/data", Err: syscall.ENOSPC}, true},
		{"wrapped", fmt.Errorf("copying: %w", &fs.PathError{Op: "write", Path: "/data", Err: syscall.ENOSPC}), true},
		{"joined", errors.Join(errors.New("cleanup"), &fs.PathError{Op: "write", Path: "/data", Err: syscall.EDQUOT}), true},
		{"driver error", storagedriver.Error{DriverName: "filesystem", Detail: &fs.PathError{Op: "write", Path: "/data", Err: syscall.ENOSPC}}, true},
		{"wrapped driver error", fmt.Errorf("linking: %w", storagedriver.Error{DriverName: "filesystem", Detail: syscall.ENOSPC}), true},
		{"other errno", &fs.PathError{Op: "open", Path: "/data", Err: syscall.EACCES}, false},
		{"driver error of another cause", storagedriver.Error{DriverName: "filesystem", Detail: errors.New("no space")}, false},
		{"path not found", storagedriver.PathNotFoundError{Path: "/data"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isNoSpace(tc.err); got != tc.want {
				t.Errorf("isNoSpace(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
