package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"
)

// The htpasswd login of the auth tests. The passwords are distinctive, so
// that a search of the logs finds any trace of them.
const (
	authRealm     = "packyard-auth-test"
	authUser      = "alice"
	authPassword  = "pw-Secret-7f3c1e9a"
	wrongPassword = "pw-Wrong-0b5d2c8e"
)

// writeHtpasswd writes an htpasswd file holding authUser and returns its
// path.
func writeHtpasswd(t *testing.T) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(authPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(file, []byte(authUser+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// writeAuthConfig writes a configuration of a registry in memory with auth
// (YAML, indented for the auth map) and returns its path.
func writeAuthConfig(t *testing.T, auth string) string {
	t.Helper()
	conf := fmt.Sprintf(`version: 0.1
log:
  level: debug
storage:
  inmemory: {}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  secret: auth-test
auth:
%s
`, auth)
	file := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// credential is what a request of the matrix says about who sends it: an
// Authorization header, or none.
type credential struct {
	name   string
	header *string // nil: no Authorization header
	// valid says the registry accepts it.
	valid bool
	// status, when set, is the answer whatever the operation: the HTTP
	// server refuses the request before the registry sees it. Such a
	// credential is sent with one read and one write only: the server
	// closes each of those connections after half a second.
	status int
	// secrets are what must never reach the logs or a response.
	secrets []string
}

func header(v string) *string { return &v }

func authCredentials() []credential {
	huge := "Basic " + base64.StdEncoding.EncodeToString([]byte(authUser+":"+authPassword+strings.Repeat("x", 256<<10)))
	tooLarge := "Basic " + strings.Repeat("A", 1<<20+8<<10) // over net/http's 1 MiB of headers
	fakeJWT := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"`+authUser+`","pw":"`+authPassword+`"}`)) + ".c2lnbmF0dXJl"
	return []credential{
		{name: "no header"},
		{name: "right user", header: header(basic(authUser, authPassword)), valid: true,
			secrets: []string{authPassword, basic(authUser, authPassword)}},
		{name: "wrong password", header: header(basic(authUser, wrongPassword)),
			secrets: []string{wrongPassword, basic(authUser, wrongPassword)}},
		{name: "unknown user", header: header(basic("mallory", authPassword)),
			secrets: []string{authPassword, basic("mallory", authPassword)}},
		{name: "bad base64", header: header("Basic !!" + authPassword + "!!"),
			secrets: []string{authPassword}},
		{name: "no colon", header: header("Basic " + base64.StdEncoding.EncodeToString([]byte(authUser+authPassword))),
			secrets: []string{authPassword, base64.StdEncoding.EncodeToString([]byte(authUser + authPassword))}},
		{name: "wrong scheme", header: header(`Digest username="` + authUser + `", response="` + authPassword + `"`),
			secrets: []string{authPassword}},
		{name: "empty", header: header("")},
		{name: "scheme only", header: header("Basic")},
		{name: "huge", header: header(huge), secrets: []string{authPassword, huge[:80]}},
		{name: "over the header limit", header: header(tooLarge), status: http.StatusRequestHeaderFieldsTooLarge,
			secrets: []string{tooLarge[:80]}},
		{name: "bearer token", header: header("Bearer " + fakeJWT), secrets: []string{authPassword, fakeJWT}},
	}
}

// authOperation is a request of the matrix.
type authOperation struct {
	name, method, path, contentType, accept string
	body                                    []byte
	// read says the request only reads: anonymous pull allows it.
	read bool
	// status is the answer to a request the registry authorizes.
	status int
}

// authFixture is what the matrix's registry holds: team/app with a
// manifest tagged v1 (its config blob, its digest), and a manifest to be
// deleted.
type authFixture struct {
	config   digest.Digest
	manifest digest.Digest
	doomed   digest.Digest
	// body is v1's manifest, pushed again by the PUT of the matrix.
	body []byte
}

func seedAuthRegistry(t *testing.T, url string) authFixture {
	t.Helper()
	r := &testRegistry{URL: url, user: authUser, password: authPassword}
	config := r.putBlob(t, "team/app", ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	layer := r.putBlob(t, "team/app", ocispec.MediaTypeImageLayer, []byte("a layer"))
	m := ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{layer}}
	f := authFixture{config: config.Digest, manifest: r.putManifest(t, "team/app", "v1", m)}
	m.Annotations = map[string]string{"doomed": "yes"}
	f.doomed = r.putManifest(t, "team/app", "doomed", m)
	m.Annotations = nil
	m.SchemaVersion, m.MediaType = 2, ocispec.MediaTypeImageManifest
	f.body, _ = json.Marshal(m)
	return f
}

func authOperations(f authFixture) []authOperation {
	return []authOperation{
		{name: "base /v2/", method: http.MethodGet, path: "/v2/", status: http.StatusOK},
		{name: "GET manifest", method: http.MethodGet, path: "/v2/team/app/manifests/v1", accept: ocispec.MediaTypeImageManifest, read: true, status: http.StatusOK},
		{name: "HEAD manifest", method: http.MethodHead, path: "/v2/team/app/manifests/" + f.manifest.String(), accept: ocispec.MediaTypeImageManifest, read: true, status: http.StatusOK},
		{name: "GET missing manifest", method: http.MethodGet, path: "/v2/team/app/manifests/nope", read: true, status: http.StatusNotFound},
		{name: "HEAD blob", method: http.MethodHead, path: "/v2/team/app/blobs/" + f.config.String(), read: true, status: http.StatusOK},
		{name: "GET blob", method: http.MethodGet, path: "/v2/team/app/blobs/" + f.config.String(), read: true, status: http.StatusOK},
		{name: "tags list", method: http.MethodGet, path: "/v2/team/app/tags/list", read: true, status: http.StatusOK},
		{name: "_catalog", method: http.MethodGet, path: "/v2/_catalog", read: true, status: http.StatusOK},
		{name: "/api/v1/packs", method: http.MethodGet, path: CatalogPath, read: true, status: http.StatusOK},
		{name: "referrers", method: http.MethodGet, path: "/v2/team/app/referrers/" + f.manifest.String(), read: true, status: http.StatusOK},
		{name: "blob upload POST", method: http.MethodPost, path: "/v2/team/app/blobs/uploads/", status: http.StatusAccepted},
		{name: "blob mount POST", method: http.MethodPost, path: "/v2/team/other/blobs/uploads/?mount=" + f.config.String() + "&from=team/app", status: http.StatusCreated},
		{name: "manifest PUT", method: http.MethodPut, path: "/v2/team/app/manifests/v2", contentType: ocispec.MediaTypeImageManifest, body: f.body, status: http.StatusCreated},
		{name: "manifest DELETE", method: http.MethodDelete, path: "/v2/team/app/manifests/" + f.doomed.String(), status: http.StatusAccepted},
	}
}

// TestAuthMatrix runs every operation with every kind of credential
// against a registry with htpasswd auth, without and with anonymous pull
// (from the configuration file and from the environment), and expects the
// exact answer: the operation's status where the registry authorizes it,
// 401 with the Basic challenge where it does not. Nothing secret reaches
// the logs, even at the most verbose level, or a response.
func TestAuthMatrix(t *testing.T) {
	htpasswd := writeHtpasswd(t)
	for _, mode := range []struct {
		name      string
		anonymous bool
		auth      string
		env       map[string]string
	}{
		{name: "anonymous pull off", auth: fmt.Sprintf("  htpasswd:\n    realm: %s\n    path: %s", authRealm, htpasswd)},
		{name: "anonymous pull from the file", anonymous: true, auth: fmt.Sprintf("  htpasswd:\n    realm: %s\n    path: %s\n    anonymouspull: true", authRealm, htpasswd)},
		{name: "anonymous pull from the environment", anonymous: true, auth: "  none: {}", env: map[string]string{
			"REGISTRY_AUTH":                        "htpasswd",
			"REGISTRY_AUTH_HTPASSWD_REALM":         authRealm,
			"REGISTRY_AUTH_HTPASSWD_PATH":          htpasswd,
			"REGISTRY_AUTH_HTPASSWD_ANONYMOUSPULL": "true",
		}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			for k, v := range mode.env {
				t.Setenv(k, v)
			}
			r := start(t, ConfigOptions{File: writeAuthConfig(t, mode.auth)}, slog.LevelDebug-4)
			if _, ok := r.Server.access.(*anonymousPull); ok != mode.anonymous {
				t.Fatalf("anonymous pull is %v, want %v", ok, mode.anonymous)
			}
			f := seedAuthRegistry(t, r.URL)
			var secrets []string
			for _, cred := range authCredentials() {
				secrets = append(secrets, cred.secrets...)
				for _, op := range authOperations(f) {
					if cred.status != 0 && op.name != "GET manifest" && op.name != "manifest PUT" {
						continue
					}
					want := http.StatusUnauthorized
					switch {
					case cred.status != 0:
						want = cred.status
					case cred.valid || (cred.header == nil && mode.anonymous && op.read):
						want = op.status
					}
					status, h, body := authRequest(t, r.URL, op, cred.header)
					if status != want {
						t.Errorf("%s, %s: %d, want %d\n%s", op.name, cred.name, status, want, body)
						continue
					}
					if status == http.StatusUnauthorized {
						if got, want := h.Get("WWW-Authenticate"), `Basic realm="`+authRealm+`"`; got != want {
							t.Errorf("%s, %s: challenge %q, want %q", op.name, cred.name, got, want)
						}
						if op.method != http.MethodHead && !strings.Contains(body, "UNAUTHORIZED") {
							t.Errorf("%s, %s: the 401 says %s, want the UNAUTHORIZED error code", op.name, cred.name, body)
						}
					}
					for _, s := range cred.secrets {
						if strings.Contains(body, s) || strings.Contains(fmt.Sprint(h), s) {
							t.Errorf("%s, %s: the response holds a secret:\n%v\n%s", op.name, cred.name, h, body)
						}
					}
				}
			}
			r.stop(t)
			logs := r.Logs.String()
			// The logs are distribution's and packyard's, at every level.
			for _, want := range []string{"user failed to authenticate", "authorized request", "msg=request"} {
				if !strings.Contains(logs, want) {
					t.Errorf("the logs lack %q: this test no longer sees what it checks", want)
				}
			}
			for _, s := range secrets {
				if strings.Contains(logs, s) {
					t.Errorf("the logs hold the secret %.40q", s)
				}
			}
		})
	}
}

// authRequest sends op with the Authorization header h (none when nil) and
// returns the answer.
func authRequest(t *testing.T, url string, op authOperation, h *string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(op.method, url+op.path, bytes.NewReader(op.body))
	if err != nil {
		t.Fatal(err)
	}
	if op.contentType != "" {
		req.Header.Set("Content-Type", op.contentType)
	}
	if op.accept != "" {
		req.Header.Set("Accept", op.accept)
	}
	if h != nil {
		req.Header["Authorization"] = []string{*h}
	}
	// A new connection each time: the server closes one whose headers
	// were too large.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", op.method, op.path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// TestAuthAnonymousPullConfiguration: anonymouspull takes a boolean, from
// the file or the environment, applies to htpasswd only, and a missing
// htpasswd file is an error rather than a user whose password is logged.
func TestAuthAnonymousPullConfiguration(t *testing.T) {
	htpasswd := writeHtpasswd(t)
	htpasswdAuth := func(extra string) string {
		return fmt.Sprintf("  htpasswd:\n    realm: %s\n    path: %s\n%s", authRealm, htpasswd, extra)
	}
	newServer := func(t *testing.T, auth string) (*Server, error) {
		t.Helper()
		cfg, err := LoadConfig(ConfigOptions{File: writeAuthConfig(t, auth)})
		if err != nil {
			t.Fatal(err)
		}
		return New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	}
	for _, tc := range []struct {
		name      string
		auth      string
		env       map[string]string
		anonymous bool
		err       string // a word the error must hold
	}{
		{name: "absent", auth: htpasswdAuth("")},
		{name: "true", auth: htpasswdAuth("    anonymouspull: true"), anonymous: true},
		{name: "quoted true", auth: htpasswdAuth(`    anonymouspull: "true"`), anonymous: true},
		{name: "mixed case key", auth: htpasswdAuth("    anonymousPull: true"), anonymous: true},
		{name: "false", auth: htpasswdAuth("    anonymouspull: false")},
		{name: "environment over the file", auth: htpasswdAuth("    anonymouspull: false"),
			env: map[string]string{"REGISTRY_AUTH_HTPASSWD_ANONYMOUSPULL": "true"}, anonymous: true},
		{name: "environment false over the file", auth: htpasswdAuth("    anonymouspull: true"),
			env: map[string]string{"REGISTRY_AUTH_HTPASSWD_ANONYMOUSPULL": "false"}},
		{name: "not a boolean", auth: htpasswdAuth("    anonymouspull: sometimes"), err: "anonymouspull"},
		{name: "with silly auth", auth: "  silly:\n    realm: r\n    service: s\n    anonymouspull: true", err: "anonymouspull"},
		{name: "false with silly auth", auth: "  silly:\n    realm: r\n    service: s\n    anonymouspull: false"},
		{name: "packyard's own controller", auth: "  packyard: {}", err: "packyard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			s, err := newServer(t, tc.auth)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("New: %v, want an error about %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.stopCatalog)
			if _, ok := s.access.(*anonymousPull); ok != tc.anonymous {
				t.Errorf("anonymous pull is %v, want %v", ok, tc.anonymous)
			}
		})
	}

	t.Run("missing htpasswd file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "htpasswd")
		_, err := newServer(t, fmt.Sprintf("  htpasswd:\n    realm: %s\n    path: %s", authRealm, missing))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("New: %v, want an error saying the file does not exist", err)
		}
		if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the htpasswd file was created: %v", err)
		}
	})
}

// tokenKey is a key that signs tokens, with its self-signed certificate.
type tokenKey struct {
	key  *ecdsa.PrivateKey
	cert []byte // DER
}

func newTokenKey(t *testing.T) tokenKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "packyard test token signer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tokenKey{key: key, cert: der}
}

// tokenClaims are the claims of a registry token.
type tokenClaims struct {
	Issuer    string        `json:"iss"`
	Subject   string        `json:"sub"`
	Audience  string        `json:"aud"`
	Expires   int64         `json:"exp"`
	NotBefore int64         `json:"nbf"`
	IssuedAt  int64         `json:"iat"`
	ID        string        `json:"jti"`
	Access    []tokenAccess `json:"access"`
}

type tokenAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// sign makes a JWT of c signed with ES256 by k, its certificate in the
// header, as a token server does.
func (k tokenKey) sign(t *testing.T, c tokenClaims) string {
	t.Helper()
	head, err := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(k.cert)}})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	signed := base64.RawURLEncoding.EncodeToString(head) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, k.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestAuthToken runs token auth, which carries expiry, with tokens signed
// by a key made here: a valid token is accepted for what it grants, and an
// expired, early, foreign, forged or malformed one is refused with the
// Bearer challenge. No token reaches the logs. anonymouspull is refused
// with token auth: the token server decides what anonymous requests get.
func TestAuthToken(t *testing.T) {
	const (
		realm   = "https://auth.example.test/token"
		service = "packyard-test"
		issuer  = "packyard-test-issuer"
	)
	signer, stranger := newTokenKey(t), newTokenKey(t)
	bundle := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: signer.cert}), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenAuth := fmt.Sprintf("  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s", realm, service, issuer, bundle)

	cfg, err := LoadConfig(ConfigOptions{File: writeAuthConfig(t, tokenAuth+"\n    anonymouspull: true")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), AnonymousPullParameter) {
		t.Errorf("token auth with anonymouspull: %v, want an error naming %s", err, AnonymousPullParameter)
	}

	r := start(t, ConfigOptions{File: writeAuthConfig(t, tokenAuth)}, slog.LevelDebug-4)
	now := time.Now()
	claims := func(edit func(*tokenClaims), access ...tokenAccess) tokenClaims {
		c := tokenClaims{Issuer: issuer, Subject: "alice", Audience: service, Expires: now.Add(5 * time.Minute).Unix(),
			NotBefore: now.Add(-time.Minute).Unix(), IssuedAt: now.Unix(), ID: rand.Text(), Access: access}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	pushPull := tokenAccess{Type: "repository", Name: "team/app", Actions: []string{"pull", "push"}}
	pullOnly := tokenAccess{Type: "repository", Name: "team/app", Actions: []string{"pull"}}
	catalog := tokenAccess{Type: "registry", Name: "catalog", Actions: []string{"*"}}
	valid := signer.sign(t, claims(nil, pushPull, catalog))
	forged := valid[:strings.LastIndex(valid, ".")+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	tokens := map[string]string{
		"valid":     valid,
		"pull only": signer.sign(t, claims(nil, pullOnly)),
		"expired": signer.sign(t, claims(func(c *tokenClaims) {
			c.Expires, c.NotBefore = now.Add(-2*time.Hour).Unix(), now.Add(-3*time.Hour).Unix()
		}, pushPull, catalog)),
		"not yet":     signer.sign(t, claims(func(c *tokenClaims) { c.NotBefore = now.Add(2 * time.Hour).Unix() }, pushPull, catalog)),
		"other aud":   signer.sign(t, claims(func(c *tokenClaims) { c.Audience = "another-registry" }, pushPull, catalog)),
		"other iss":   signer.sign(t, claims(func(c *tokenClaims) { c.Issuer = "someone-else" }, pushPull, catalog)),
		"foreign key": stranger.sign(t, claims(nil, pushPull, catalog)),
		"forged":      forged,
		"malformed":   "not-a-jwt-" + rand.Text(),
	}

	upload := authOperation{name: "blob upload POST", method: http.MethodPost, path: "/v2/team/app/blobs/uploads/"}
	tags := authOperation{name: "tags list", method: http.MethodGet, path: "/v2/team/app/tags/list"}
	packs := authOperation{name: "/api/v1/packs", method: http.MethodGet, path: CatalogPath}
	// The order of the actions in the scope varies.
	pushScope := `scope="repository:team/app:p`
	for _, tc := range []struct {
		op     authOperation
		header *string
		status int
		// challenge holds what the WWW-Authenticate header of a 401 must
		// hold besides the realm and service.
		challenge string
	}{
		{op: upload, status: http.StatusUnauthorized, challenge: pushScope},
		{op: upload, header: header("Bearer " + tokens["valid"]), status: http.StatusAccepted},
		{op: tags, header: header("Bearer " + tokens["valid"]), status: http.StatusNotFound}, // authorized; no tags yet
		{op: packs, header: header("Bearer " + tokens["valid"]), status: http.StatusOK},
		{op: tags, header: header("Bearer " + tokens["pull only"]), status: http.StatusNotFound},
		{op: upload, header: header("Bearer " + tokens["pull only"]), status: http.StatusUnauthorized, challenge: `error="insufficient_scope"`},
		{op: packs, header: header("Bearer " + tokens["pull only"]), status: http.StatusUnauthorized, challenge: `scope="registry:catalog:*",error="insufficient_scope"`},
		{op: upload, header: header("Bearer " + tokens["expired"]), status: http.StatusUnauthorized, challenge: `error="invalid_token"`},
		{op: tags, header: header("Bearer " + tokens["expired"]), status: http.StatusUnauthorized, challenge: `error="invalid_token"`},
		{op: upload, header: header("Bearer " + tokens["not yet"]), status: http.StatusUnauthorized, challenge: `error="invalid_token"`},
		{op: upload, header: header("Bearer " + tokens["other aud"]), status: http.StatusUnauthorized, challenge: `error="invalid_token"`},
		{op: upload, header: header("Bearer " + tokens["other iss"]), status: http.StatusUnauthorized, challenge: `error="invalid_token"`},
		{op: upload, header: header("Bearer " + tokens["foreign key"]), status: http.StatusUnauthorized, challenge: `error="invalid_token"`},
		{op: upload, header: header("Bearer " + tokens["forged"]), status: http.StatusUnauthorized, challenge: pushScope},
		{op: upload, header: header("Bearer " + tokens["malformed"]), status: http.StatusUnauthorized, challenge: `error="invalid_token"`},
		{op: upload, header: header(basic(authUser, authPassword)), status: http.StatusUnauthorized, challenge: pushScope},
		{op: upload, header: header("Bearer"), status: http.StatusUnauthorized, challenge: pushScope},
	} {
		status, h, body := authRequest(t, r.URL, tc.op, tc.header)
		what := tc.op.name + " with no token"
		if tc.header != nil {
			what = tc.op.name + " with " + *tc.header
			for name, tok := range tokens {
				if "Bearer "+tok == *tc.header {
					what = tc.op.name + " with the " + name + " token"
				}
			}
		}
		if status != tc.status {
			t.Errorf("%s: %d, want %d\n%s", what, status, tc.status, body)
			continue
		}
		if status == http.StatusUnauthorized {
			ch := h.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, fmt.Sprintf("Bearer realm=%q,service=%q", realm, service)) || !strings.Contains(ch, tc.challenge) {
				t.Errorf("%s: challenge %q, want the Bearer challenge with %s", what, ch, tc.challenge)
			}
		}
	}
	r.stop(t)
	logs := r.Logs.String()
	if !strings.Contains(logs, "failed to verify token") {
		t.Errorf("the logs lack distribution's word on a refused token: this test no longer sees what it checks")
	}
	for name, tok := range tokens {
		// A token's signature is what makes it a credential.
		if sig := tok[strings.LastIndex(tok, ".")+1:]; strings.Contains(logs, sig) {
			t.Errorf("the logs hold the %s token", name)
		}
	}
	if strings.Contains(logs, authPassword) {
		t.Error("the logs hold the password")
	}
}
