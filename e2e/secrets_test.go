package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretSet are the secrets of a test, by name, with the forms they take
// on the wire.
type secretSet map[string]string

// add adds a password or token, and the Basic header value it makes with
// user.
func (s secretSet) add(name, user, secret string) {
	s[name] = secret
	s[name+" in Basic auth"] = base64.StdEncoding.EncodeToString([]byte(user + ":" + secret))
	s[name+" in base64"] = base64.StdEncoding.EncodeToString([]byte(secret))
}

// check fails the test when what a command printed holds a secret.
func (s secretSet) check(t *testing.T, what string, res result) {
	t.Helper()
	for name, v := range s {
		if strings.Contains(res.stdout, v) || strings.Contains(res.stderr, v) {
			t.Errorf("%s printed the %s:\nstdout:\n%s\nstderr:\n%s", what, name, res.stdout, res.stderr)
		}
	}
}

// writeDockerConfig writes env's docker config.json.
func writeDockerConfig(t *testing.T, env *clientEnv, config string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(env.DockerConfig, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeCredentialHelper puts docker-credential-NAME, a shell script that
// answers get with script's output, in a folder of its own, and returns
// the PATH that finds it first.
func writeCredentialHelper(t *testing.T, name, get string) string {
	t.Helper()
	dir := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\ncase \"$1\" in\nget) cat >/dev/null; %s ;;\n*) cat >/dev/null; exit 0 ;;\nesac\n", get)
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

// Passwords and tokens never show in what the CLI prints, whether a
// command succeeds or fails, in text or -o json, whatever holds the
// credential (a login, the docker config's fields, a credential helper, a
// registry address with USER:PASSWORD@), nor in the server's log at debug
// level.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	s := serveWithAuth(t, authServeOptions{LogLevel: "debug"})
	wrong, token := "wrong-"+rand.Text(), "tok-"+rand.Text()
	secrets := secretSet{}
	secrets.add("password", s.User, s.Password)
	secrets.add("wrong password", s.User, wrong)
	secrets.add("token", s.User, token)
	remote := plainRemote(s.Host)
	dir := filepath.Join("examples", "hello-manifests")
	name, version := packMeta(t, dir)
	ref := name + ":" + version
	tmp := t.TempDir()

	// What each kind of client runs, and whether it must succeed.
	type step struct {
		what string
		args []string
		ok   bool
	}
	steps := func(okay bool, tag string) []step {
		out := filepath.Join(tmp, tag)
		return []step{
			{"push", pushArgs([]string{dir}, remote, "-o", "json"), okay},
			{"pull", append([]string{"pack", "pull", ref, filepath.Join(out, "pulled"), "-o", "json"}, remote...), okay},
			{"ls", append([]string{"pack", "ls", "-o", "json"}, remote...), okay},
			{"ls --name", append([]string{"pack", "ls", "--name", name}, remote...), okay},
			{"inspect", append([]string{"pack", "inspect", ref, "-o", "json"}, remote...), okay},
			{"copy", []string{"pack", "copy", ref, "--from", s.Host, "--to", s.Host + "/copies", "--plain-http", "-o", "json"}, okay},
			{"export", append([]string{"pack", "export", ref, "-o", filepath.Join(tmp, tag+".tar"), "--json"}, remote...), okay},
			// A pack version is immutable: delete fails, logged in or not.
			{"delete", append([]string{"pack", "delete", ref, "-o", "json"}, remote...), false},
		}
	}

	good := newClientEnv(t)
	s.login(t, good)
	for _, st := range steps(true, "good") {
		res := good.packyard(t, st.args...)
		if (res.code == 0) != st.ok {
			t.Errorf("logged in: %s: exit status %d\nstdout:\n%s\nstderr:\n%s", st.what, res.code, res.stdout, res.stderr)
		}
		secrets.check(t, "logged in: "+st.what, res)
	}
	res := good.packyard(t, append([]string{"pack", "import", filepath.Join(tmp, "good.tar"), "-o", "json"}, remote...)...)
	if res.code != 0 {
		t.Errorf("logged in: import: exit status %d\n%s", res.code, res.stderr)
	}
	secrets.check(t, "logged in: import", res)

	// Credentials the registry refuses, or cannot use, however they are
	// given.
	for _, c := range []struct {
		name   string
		config string
		env    []string
	}{
		{name: "no login", config: `{}`},
		{name: "a wrong password in auth", config: fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, s.Host, secrets["wrong password in Basic auth"])},
		{name: "a wrong password in username and password", config: fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q}}}`, s.Host, s.User, wrong)},
		{name: "an auth without a colon", config: fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, s.Host, secrets["token in base64"])},
		{name: "an auth that is not base64", config: fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, s.Host, "!"+token+"!")},
		{name: "an identity token", config: fmt.Sprintf(`{"auths":{%q:{"identitytoken":%q}}}`, s.Host, token)},
		{name: "a registry token", config: fmt.Sprintf(`{"auths":{%q:{"registrytoken":%q}}}`, s.Host, token)},
		{name: "a credential helper with a wrong secret", config: fmt.Sprintf(`{"credHelpers":{%q:"packyard-wrong"}}`, s.Host),
			env: []string{writeCredentialHelper(t, "packyard-wrong", fmt.Sprintf(`printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}'`, s.Host, s.User, token))}},
		{name: "a credential helper that fails", config: `{"credsStore":"packyard-fails"}`,
			env: []string{writeCredentialHelper(t, "packyard-fails", `echo "the keychain is locked"; exit 1`)}},
		{name: "a credential helper that is missing", config: `{"credsStore":"packyard-missing"}`},
	} {
		env := newClientEnv(t)
		env.vars = append(env.vars, c.env...)
		writeDockerConfig(t, env, c.config)
		for _, st := range steps(false, strings.ReplaceAll(c.name, " ", "-")) {
			res := env.packyard(t, st.args...)
			if res.code == 0 {
				t.Errorf("%s: %s succeeded:\n%s", c.name, st.what, res.stdout)
			}
			secrets.check(t, c.name+": "+st.what, res)
		}
		res := env.packyard(t, append([]string{"pack", "import", filepath.Join(tmp, "good.tar"), "-o", "json"}, remote...)...)
		if res.code == 0 {
			t.Errorf("%s: import succeeded:\n%s", c.name, res.stdout)
		}
		secrets.check(t, c.name+": import", res)
		res = env.runStdin(t, repoRoot, wrong+"\n", packyardBin, "registry", "login", s.Host, "-u", s.User, "--password-stdin", "--plain-http")
		if res.code == 0 {
			t.Errorf("%s: login with a wrong password succeeded", c.name)
		}
		secrets.check(t, c.name+": login with a wrong password", res)
		res = env.packyard(t, "registry", "logout", s.Host)
		secrets.check(t, c.name+": logout", res)
	}

	// A secret on the command line or in the environment is refused
	// without being repeated.
	none := newClientEnv(t)
	for _, args := range [][]string{
		{"registry", "login", s.Host, "-u", s.User, "-p", wrong, "--plain-http"},
		{"registry", "login", s.Host, "-u", s.User, "--password=" + wrong, "--plain-http"},
		{"registry", "login", s.User + ":" + wrong + "@" + s.Host, "-u", s.User, "--password-stdin", "--plain-http"},
		{"pack", "ls", "-r", s.User + ":" + wrong + "@" + s.Host, "--plain-http"},
		{"pack", "ls", "-r", "https://" + s.User + ":" + wrong + "@" + s.Host + "/team", "-o", "json"},
		{"pack", "ls", "-r", s.User + ":" + wrong + "/x@" + s.Host, "--plain-http"},
		{"pack", "pull", ref, filepath.Join(tmp, "url"), "-r", s.User + ":" + wrong + "@" + s.Host, "--plain-http", "-o", "json"},
		{"pack", "pull", s.User + ":" + wrong + "@" + s.Host + "/" + ref, filepath.Join(tmp, "url-ref"), "-r", s.Host, "--plain-http"},
		{"pack", "push", dir, "-r", s.User + ":" + wrong + "@" + s.Host, "--plain-http"},
		{"pack", "copy", s.User + ":" + wrong + "@" + s.Host + "/" + ref, s.Host + "/copies", "--plain-http"},
		{"pack", "copy", ref, "--from", s.Host, "--to", s.User + ":" + wrong + "@" + s.Host, "--plain-http"},
	} {
		res := none.runStdin(t, repoRoot, wrong+"\n", packyardBin, args...)
		if res.code == 0 {
			t.Errorf("packyard %s succeeded", strings.Join(args, " "))
		}
		secrets.check(t, "packyard "+strings.Join(args, " "), res)
	}
	inEnv := newClientEnv(t)
	inEnv.vars = append(inEnv.vars, "PACKYARD_REGISTRY="+s.User+":"+wrong+"@"+s.Host)
	res = inEnv.packyard(t, "pack", "ls", "--plain-http")
	if res.code == 0 {
		t.Error("PACKYARD_REGISTRY with a password: pack ls succeeded")
	}
	secrets.check(t, "PACKYARD_REGISTRY with a password: pack ls", res)

	// A login that cannot reach the registry keeps the password to itself.
	res = none.runStdin(t, repoRoot, wrong+"\n", packyardBin, "registry", "login", freeLoopbackAddr(t), "-u", s.User, "--password-stdin", "--plain-http")
	if res.code == 0 {
		t.Error("login to a closed port succeeded")
	}
	secrets.check(t, "login to a closed port", res)

	if err := s.stop(t); err != nil {
		t.Errorf("packyard serve: %v", err)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "level=DEBUG") || !strings.Contains(logs, "user failed to authenticate") {
		t.Errorf("the server's log is not at debug level, or lacks the refused logins: this test no longer sees what it checks\n%s", logs)
	}
	secrets.check(t, "packyard serve --log-level debug", result{stderr: logs})
}
