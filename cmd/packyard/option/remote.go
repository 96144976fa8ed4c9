package option

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/packyard/packyard/pkg/ociregistry"
)

// RegistryEnv names the default registry location, SERVER[/BASE].
const RegistryEnv = "PACKYARD_REGISTRY"

// Remote holds the flags of every command that talks to a registry: how to
// reach it (--plain-http, --insecure, --ca-file) and where packs live
// (-r SERVER[/BASE]).
type Remote struct {
	Registry  string
	PlainHTTP bool
	Insecure  bool
	CAFile    string
	// NoCache keeps the client from reading or writing packyard's cache
	// folder; commands that use the cache set it from a flag of their own.
	NoCache bool
}

// ApplyFlags adds the registry flags.
func (r *Remote) ApplyFlags(fs *pflag.FlagSet) {
	r.ApplyConnectionFlags(fs)
	fs.StringVarP(&r.Registry, "registry", "r", "", "registry and base path, SERVER[/BASE] (default $"+RegistryEnv+", or the registry saved with `registry login --default`)")
}

// ApplyConnectionFlags adds only the flags of how to reach a registry, for
// commands that name the registry as an argument.
func (r *Remote) ApplyConnectionFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&r.PlainHTTP, "plain-http", false, "talk HTTP instead of HTTPS")
	fs.BoolVar(&r.Insecure, "insecure", false, "accept any TLS certificate")
	fs.StringVar(&r.CAFile, "ca-file", "", "PEM file of certificate authorities to trust besides the system's")
}

// Client makes the registry client the flags describe.
func (r *Remote) Client() (*ociregistry.Client, error) {
	return ociregistry.New(ociregistry.Options{PlainHTTP: r.PlainHTTP, Insecure: r.Insecure, CAFile: r.CAFile, NoCache: r.NoCache})
}

// Connect is Client and Location together, what every command that talks
// to one registry starts with.
func (r *Remote) Connect() (*ociregistry.Client, ociregistry.Location, error) {
	loc, err := r.Location()
	if err != nil {
		return nil, loc, err
	}
	client, err := r.Client()
	return client, loc, err
}

// Location is where packs live: -r, else $PACKYARD_REGISTRY, else the
// default saved at login.
func (r *Remote) Location() (ociregistry.Location, error) {
	s := r.Registry
	if s == "" {
		s = os.Getenv(RegistryEnv)
	}
	if s == "" {
		cfg, err := LoadConfig()
		if err != nil {
			return ociregistry.Location{}, err
		}
		s = cfg.DefaultRegistry
	}
	return ociregistry.ParseLocation(s)
}

// Config is packyard's own settings file.
type Config struct {
	// DefaultRegistry is the SERVER[/BASE] used when -r is not given.
	DefaultRegistry string `json:"defaultRegistry,omitempty"`
}

// ConfigPath is where the settings file lives:
// $XDG_CONFIG_HOME/packyard/config.json or its platform equivalent.
func ConfigPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "packyard", "config.json"), nil
}

// LoadConfig reads the settings file; a missing file is an empty config.
func LoadConfig() (Config, error) {
	var cfg Config
	p, err := ConfigPath()
	if err != nil {
		return cfg, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("reading %s: %w", p, err)
	}
	return cfg, nil
}

// SaveConfig writes the settings file, replacing it atomically.
func SaveConfig(cfg Config) error {
	p, err := ConfigPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".config-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
