package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/packyard/packyard/pkg/ociregistry"
	"github.com/packyard/packyard/pkg/packer"
)

// remoteFailure is a registry error said in one readable line. It wraps the
// original error, so errors.Is and errors.As still see it.
type remoteFailure struct {
	msg string
	err error
}

func (e *remoteFailure) Error() string { return e.msg }
func (e *remoteFailure) Unwrap() error { return e.err }

// remoteError turns an error of a command that talked to a registry into
// one readable line and a recommendation. loc, when given, is where the
// command looked for packs; it makes the advice precise. Errors it does not
// know are returned as they are.
func remoteError(err error, loc ...ociregistry.Location) error {
	if err == nil {
		return nil
	}
	var where ociregistry.Location
	if len(loc) > 0 {
		where = loc[0]
	}
	var ce *cliError
	if errors.As(err, &ce) {
		return err // already explained
	}
	var le *packer.LintError
	var lde *packer.LoadError
	if errors.As(err, &le) || errors.As(err, &lde) {
		return lintAdvice(err)
	}
	var ve *ociregistry.VersionExistsError
	if errors.As(err, &ve) {
		return &cliError{err: err, recommendation: "A pack version should not change once published: raise the version in pack.json, or pass --force to replace it."}
	}
	if errors.Is(err, ociregistry.ErrVersionExists) {
		return &cliError{err: err, recommendation: "Raise the version in pack.json, or pass --force to replace it."}
	}
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		return responseError(err, er, where)
	}
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		host := where.Registry
		if host == "" {
			host = "SERVER"
		}
		return &cliError{
			err:            &remoteFailure{msg: fmt.Sprintf("unauthorized: %s asks for a user and password, and no login is saved for it", host), err: err},
			recommendation: fmt.Sprintf("Run `packyard registry login %s`.", host),
		}
	}
	if errors.Is(err, ociregistry.ErrCredentialStore) {
		host := where.Registry
		if host == "" {
			host = "SERVER"
		}
		return &cliError{err: err, recommendation: fmt.Sprintf(
			"Log in again with `packyard registry login %s`, or fix the login or the credential helper that the docker config.json names for it.", host)}
	}
	if msg, rec := connectionAdvice(err, where); rec != "" {
		if msg != "" {
			err = &remoteFailure{msg: msg, err: err}
		}
		return &cliError{err: err, recommendation: rec}
	}
	return err
}

// hostOf is the host a failed request went to, or else loc's registry.
func hostOf(err error, loc ociregistry.Location) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return u.Host
		}
	}
	if loc.Registry != "" {
		return loc.Registry
	}
	return "the registry"
}

// responseError explains an error status a registry answered with.
func responseError(err error, er *errcode.ErrorResponse, loc ociregistry.Location) error {
	host, repo := "", ""
	if er.URL != nil {
		host = er.URL.Host
		repo = repositoryOf(er.URL.Path)
	}
	if host == "" {
		host = loc.Registry
	}
	target := host
	if repo != "" {
		target = host + "/" + repo
	}
	detail := http.StatusText(er.StatusCode)
	code := ""
	if len(er.Errors) > 0 {
		code = er.Errors[0].Code
		if m := strings.Join(strings.Fields(er.Errors[0].Message), " "); m != "" {
			detail = m // one line, whatever the registry sent
		}
	}
	fail := func(kind, rec string) error {
		return &cliError{err: &remoteFailure{msg: fmt.Sprintf("%s: %s: %s", kind, target, detail), err: err}, recommendation: rec}
	}
	switch {
	case er.StatusCode == http.StatusUnauthorized:
		return fail("unauthorized", fmt.Sprintf("Run `packyard registry login %s` (or check the user and password you logged in with).", host))
	case er.StatusCode == http.StatusForbidden && strings.Contains(detail, "immutable"):
		return fail("pack version is immutable", "Publish the change as a new version: the registry keeps each pack version as it was first pushed.")
	case er.StatusCode == http.StatusForbidden:
		return fail("denied", fmt.Sprintf("The account you logged in to %s with may not do this: ask the registry's administrator for access, or log in as another user with `packyard registry login %s`.", host, host))
	case er.StatusCode == http.StatusNotFound && writes(er.Method):
		return fail("repository not found", missingRepositoryAdvice(host, repo, loc))
	case er.StatusCode == http.StatusNotFound || code == errcode.ErrorCodeNameUnknown || code == errcode.ErrorCodeManifestUnknown:
		return fail("not found", fmt.Sprintf("Check the name and the registry; `packyard pack ls -r %s` lists the packs there.", locationOr(loc, host)))
	case er.StatusCode == http.StatusMethodNotAllowed || code == errcode.ErrorCodeUnsupported:
		return fail("not supported by the registry", "The registry does not allow this operation (deletes are often disabled); ask its administrator.")
	case er.StatusCode == http.StatusBadRequest && er.URL != nil && er.URL.Scheme == "http":
		return fail("bad request", "If the registry talks HTTPS, leave out --plain-http.")
	case er.StatusCode == http.StatusTooManyRequests:
		return fail("too many requests", "The registry limits request rates: wait a little and try again.")
	case er.StatusCode == http.StatusInsufficientStorage:
		return fail("registry out of space", "The registry's storage is full: its administrator must free space or grow the storage "+
			"(`packyard serve gc --delete` reclaims blobs no pack references), then push again.")
	}
	msg := fmt.Sprintf("%s: %s (status %d)", target, detail, er.StatusCode)
	// An unexpected status says the most with what was being done, as the
	// library put it: "fetching layer values.yaml: ...".
	if what, ok := strings.CutSuffix(err.Error(), er.Error()); ok {
		if what = strings.TrimSuffix(what, ": "); what != "" {
			msg = what + ": " + msg
		}
	}
	return &cliError{err: &remoteFailure{msg: msg, err: err}}
}

// writes says whether a request method changes the registry: a 404 to one
// means the repository (or the project holding it) is missing.
func writes(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return true
	}
	return false
}

// missingRepositoryAdvice says what to create when a push finds no
// repository: registries such as ECR create none on push, and Harbor needs
// the project first.
func missingRepositoryAdvice(host, repo string, loc ociregistry.Location) string {
	switch {
	case isECR(host):
		return "ECR creates no repository on push: create " + strings.Join(ecrRepositories(repo, loc), ", ") +
			" (aws ecr create-repository --repository-name NAME), then push again."
	case isHarbor(host):
		project, _, _ := strings.Cut(repo, "/")
		if project == "" {
			project = strings.SplitN(loc.Base, "/", 2)[0]
		}
		return fmt.Sprintf("Harbor pushes only into existing projects: create the project %q in Harbor (or push below one with -r %s/PROJECT), then push again.", project, host)
	}
	project, _, _ := strings.Cut(repo, "/")
	return fmt.Sprintf("The registry does not create repositories on push: create %s (on Harbor, the project %q; on ECR, the repository itself), then push again.", repo, project)
}

// ecrRepositories lists the repositories a pack push needs on ECR: the
// pack's native and Palette repositories, and the base archive repository.
// repo is the repository the registry did not find.
func ecrRepositories(repo string, loc ociregistry.Location) []string {
	base, name := loc.Base, ""
	for _, prefix := range []string{ociregistry.NativeRepoPrefix, ociregistry.PaletteRepoPrefix} {
		before, after, ok := strings.Cut("/"+repo+"/", "/"+prefix+"/")
		if !ok {
			continue
		}
		if loc.Registry == "" {
			base = strings.Trim(before, "/")
		}
		name = strings.Trim(after, "/")
		break
	}
	l := ociregistry.Location{Registry: loc.Registry, Base: base}
	if name == "" {
		if repo == l.PaletteBaseRepository() {
			return []string{repo}
		}
		return []string{repo, l.PaletteBaseRepository()}
	}
	return []string{l.NativeRepository(name), l.PaletteRepository(name), l.PaletteBaseRepository()}
}

func isECR(host string) bool {
	return strings.Contains(host, ".ecr.") && strings.Contains(host, "amazonaws.com")
}

func isHarbor(host string) bool {
	return strings.Contains(strings.ToLower(host), "harbor")
}

func locationOr(loc ociregistry.Location, host string) string {
	if loc.Registry != "" {
		return loc.String()
	}
	return host
}

// repositoryOf reads the repository from a distribution API path,
// /v2/REPO/{blobs,manifests,tags,referrers}/...
func repositoryOf(p string) string {
	p = strings.TrimPrefix(p, "/v2/")
	for _, part := range []string{"/blobs/", "/manifests/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(p, part); i >= 0 {
			return p[:i]
		}
	}
	return ""
}

// connectionAdvice says in one line why the registry could not be reached,
// and recommends flags or checks; both are empty for other errors.
func connectionAdvice(err error, loc ociregistry.Location) (string, string) {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var dns *net.DNSError
	host := hostOf(err, loc)
	switch {
	case errors.As(err, &unknown):
		return host + ": the TLS certificate is signed by an unknown authority",
			"The registry's certificate is signed by an authority this machine does not trust: pass --ca-file with that authority's PEM certificate, or --insecure to skip the check (not for production)."
	case errors.As(err, &hostname):
		return host + ": " + hostname.Error(),
			"The registry's certificate is for another name: use the name the certificate holds, or pass --insecure to skip the check (not for production)."
	case errors.As(err, &invalid):
		return host + ": " + invalid.Error(),
			"The registry's certificate is not valid (expired, or not for serving): renew it, or pass --insecure to skip the check (not for production)."
	case errors.Is(err, http.ErrSchemeMismatch):
		return host + " answers in plain HTTP, not HTTPS", "The registry talks plain HTTP: pass --plain-http."
	case errors.Is(err, syscall.ECONNREFUSED):
		return "cannot connect to " + host + ": connection refused",
			fmt.Sprintf("Nothing answers at %s: check the address and port, and that the registry runs.", host)
	case errors.As(err, &dns):
		return "cannot find the host " + dns.Name, "The registry's host name does not resolve: check the address."
	case connectionCut(err):
		return "the connection to " + host + " was cut in the middle of a request", connectionCutAdvice
	case errors.Is(err, errdef.ErrNotFound) && loc.Registry != "":
		return "", fmt.Sprintf("Check the name; `packyard pack ls -r %s` lists the packs there.", loc)
	}
	return "", ""
}
