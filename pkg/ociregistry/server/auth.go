package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/auth"
)

// AnonymousPullParameter is the htpasswd parameter that lets requests
// without credentials read the registry:
//
//	auth:
//	  htpasswd:
//	    realm: packs
//	    path: /etc/packyard/htpasswd
//	    anonymouspull: true
//
// or REGISTRY_AUTH_HTPASSWD_ANONYMOUSPULL=true, as distribution maps its
// environment overrides. Reads are pulls of manifests and blobs, tag lists,
// referrers, the _catalog listing and packyard's pack catalog; pushes,
// uploads and deletes still need a user of the htpasswd file. A request
// that carries credentials has them checked, whatever it asks for, so that
// a wrong password is refused rather than ignored; and /v2/, which clients
// call to check a login, still asks for one. Off by default.
const AnonymousPullParameter = "anonymouspull"

// accessControllerName is the access controller packyard gives
// distribution: the one it built from the configuration, which packyard's
// own endpoints use too. It is set in the process, never in a file.
const accessControllerName = "packyard"

// accessControllerOption is the option that carries the access controller
// to distribution.
const accessControllerOption = "packyard.accesscontroller"

var registerAccessController = sync.OnceValue(func() error {
	return auth.Register(accessControllerName, func(options map[string]any) (auth.AccessController, error) {
		ac, ok := options[accessControllerOption].(auth.AccessController)
		if !ok {
			return nil, errors.New("the packyard access controller is set by packyard serve, not by a configuration file: configure htpasswd, token or silly")
		}
		return ac, nil
	})
})

// newAccessController makes the access controller a's configuration asks
// for, with packyard's anonymous pull around htpasswd when asked; nil when
// the registry has no auth.
func newAccessController(a configuration.Auth) (auth.AccessController, error) {
	typ := a.Type()
	if typ == "" || strings.EqualFold(typ, "none") {
		return nil, nil
	}
	if typ == accessControllerName {
		return nil, fmt.Errorf("auth %s: packyard sets this access controller itself: configure htpasswd, token or silly", typ)
	}
	params := configuration.Parameters{}
	var anonymous bool
	for k, v := range a.Parameters() {
		if !strings.EqualFold(k, AnonymousPullParameter) {
			params[k] = v
			continue
		}
		b, err := parseBool(v)
		if err != nil {
			return nil, fmt.Errorf("auth %s: %s: %w", typ, AnonymousPullParameter, err)
		}
		anonymous = b
	}
	if anonymous && typ != "htpasswd" {
		// A token server decides itself what anonymous requests may do.
		return nil, fmt.Errorf("auth %s: %s applies to htpasswd only", typ, AnonymousPullParameter)
	}
	if typ == "htpasswd" {
		if err := checkHtpasswdFile(params); err != nil {
			return nil, err
		}
	}
	ac, err := auth.GetAccessController(typ, params)
	if err != nil {
		return nil, fmt.Errorf("auth %s: %w", typ, err)
	}
	if anonymous {
		ac = &anonymousPull{next: ac}
	}
	return ac, nil
}

// checkHtpasswdFile refuses an htpasswd path where there is no file.
// distribution would create one, with a user whose generated password it
// writes to the log: packyard keeps passwords out of logs.
func checkHtpasswdFile(params configuration.Parameters) error {
	p, ok := params["path"].(string)
	if !ok || p == "" {
		return nil // distribution says what is missing
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("auth htpasswd: %w: create the file, e.g. with `htpasswd -cB %s USER`", err, p)
	}
	return nil
}

// parseBool reads a boolean parameter: a YAML boolean, or its text from an
// environment variable.
func parseBool(v any) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		if r, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
			return r, nil
		}
	}
	return false, fmt.Errorf("%v is not true or false", v)
}

// withAccessController is cfg as distribution gets it: with ac, packyard's
// access controller, in place of the configured one, so that distribution's
// API and packyard's endpoints decide alike. cfg is not changed.
func withAccessController(cfg *configuration.Configuration, ac auth.AccessController) (*configuration.Configuration, error) {
	if ac == nil {
		return cfg, nil
	}
	if err := registerAccessController(); err != nil {
		return nil, err
	}
	c := *cfg
	c.Auth = configuration.Auth{accessControllerName: configuration.Parameters{accessControllerOption: ac}}
	return &c, nil
}

// anonymousPull grants reads to requests without credentials, and leaves
// every other request to the access controller it wraps.
type anonymousPull struct {
	next auth.AccessController
}

// Authorized grants access when the request carries no Authorization
// header and asks only to read; otherwise the wrapped controller decides.
func (a *anonymousPull) Authorized(r *http.Request, access ...auth.Access) (*auth.Grant, error) {
	if _, sent := r.Header["Authorization"]; !sent && readOnly(access) {
		return &auth.Grant{}, nil
	}
	return a.next.Authorized(r, access...)
}

// readOnly says whether access asks only to read: pull of repositories,
// and the registry's catalog. No access at all is the base route, /v2/,
// which clients call to check a login: it is not a read.
func readOnly(access []auth.Access) bool {
	if len(access) == 0 {
		return false
	}
	for _, a := range access {
		switch {
		case a.Type == "repository" && a.Action == "pull":
		case a.Type == catalogAccess.Type && a.Name == catalogAccess.Name && a.Action == catalogAccess.Action:
		default:
			return false
		}
	}
	return true
}
