package ociregistry

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// A docker config entry the store cannot read is an ErrCredentialStore
// whose text does not quote the entry, though the store's own error does.
func TestCredentialStoreErrorsHideTheSecret(t *testing.T) {
	const host = "registry.example.test"
	token := "tok-" + strings.Repeat("s3cret", 4)
	for _, tc := range []struct {
		name, auth string
	}{
		{"no colon", base64.StdEncoding.EncodeToString([]byte(token))},
		{"not base64", "!" + token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(file, fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, host, tc.auth), 0o600); err != nil {
				t.Fatal(err)
			}
			fs, err := credentials.NewFileStore(file)
			if err != nil {
				t.Fatal(err)
			}
			_, raw := fs.Get(t.Context(), host)
			if raw == nil {
				t.Fatal("the file store read a malformed entry")
			}
			_, err = credentialStore{fs}.Get(t.Context(), host)
			var ce *credentialError
			if !errors.Is(err, ErrCredentialStore) || !errors.As(err, &ce) || ce.err.Error() != raw.Error() {
				t.Fatalf("Get: %v, want ErrCredentialStore wrapping the store's error", err)
			}
			for _, secret := range []string{token, tc.auth} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error quotes the entry: %v", err)
				}
			}
			if !strings.Contains(err.Error(), host) {
				t.Errorf("the error does not name the registry: %v", err)
			}
			// The client reads logins through it.
			c, err := New(Options{Credentials: fs, NoCache: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.auth.Credential(t.Context(), host); !errors.Is(err, ErrCredentialStore) || strings.Contains(err.Error(), token) {
				t.Errorf("the client's credential: %v, want ErrCredentialStore without the token", err)
			}
			// Logging out removes the entry it cannot read.
			if had, err := c.Logout(t.Context(), host); err != nil || !had {
				t.Fatalf("Logout: %v, %v; want the malformed entry removed", had, err)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), host) || strings.Contains(string(data), token) {
				t.Errorf("the config still holds the entry after logout:\n%s", data)
			}
		})
	}
}

// missingHelperStore is a credential store whose docker config names a
// credential helper that is not installed.
func missingHelperStore(t *testing.T) credentials.Store {
	t.Helper()
	file := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(file, []byte(`{"credsStore":"packyard-no-such-helper"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := credentials.NewStore(file, credentials.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// Logout through a credential helper that is not installed fails, naming
// it, rather than claiming the login is gone.
func TestLogoutMissingHelper(t *testing.T) {
	c, err := New(Options{Credentials: missingHelperStore(t), NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	had, err := c.Logout(t.Context(), "registry.example.test")
	if had || !errors.Is(err, ErrCredentialStore) || !strings.Contains(err.Error(), "docker-credential-packyard-no-such-helper") {
		t.Errorf("Logout: %v, %v; want an ErrCredentialStore naming the helper", had, err)
	}
}

// A credential helper that is not installed is named: that is what the
// user must fix, and it is no secret.
func TestCredentialStoreNamesMissingHelper(t *testing.T) {
	store := missingHelperStore(t)
	_, err := credentialStore{store}.Get(t.Context(), "registry.example.test")
	var ee *exec.Error
	if !errors.Is(err, ErrCredentialStore) || !errors.As(err, &ee) || !strings.Contains(err.Error(), "docker-credential-packyard-no-such-helper") {
		t.Errorf("Get: %v, want ErrCredentialStore naming the missing helper", err)
	}
	err = credentialStore{store}.Put(t.Context(), "registry.example.test", auth.Credential{Username: "u", Password: "pw-s3cret"})
	if !errors.Is(err, ErrCredentialStore) || strings.Contains(err.Error(), "pw-s3cret") {
		t.Errorf("Put: %v, want ErrCredentialStore without the password", err)
	}
}

// A pack reference with USER:PASSWORD@ in front is refused without being
// quoted; NAME@DIGEST still parses.
func TestParsePackRefCredentials(t *testing.T) {
	for _, s := range []string{
		"alice:pw-s3cret@registry.example.test/hello:1.0.0",
		"https://alice:pw-s3cret@registry.example.test/hello",
		"alice:pw-s3cret@hello",
	} {
		_, err := ParsePackRef(s)
		if !errors.Is(err, errCredentialsInReference) || strings.Contains(err.Error(), "pw-s3cret") {
			t.Errorf("ParsePackRef(%q): %v, want the credentials refused unquoted", s, err)
		}
	}
	d := "sha256:" + strings.Repeat("a", 64)
	if r, err := ParsePackRef("hello@" + d); err != nil || r.Name != "hello" || r.Digest.String() != d {
		t.Errorf("ParsePackRef(hello@DIGEST) = %+v, %v", r, err)
	}
}
