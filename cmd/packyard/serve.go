package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/packyard/packyard/pkg/ociregistry/server"
)

type serveOptions struct {
	config    server.ConfigOptions
	logFormat string
	logLevel  string
}

func newServeCmd() *cobra.Command {
	opts := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a registry for packs: distribution, embedded",
		Long: `serve runs an OCI registry (the distribution v3 registry, in this process)
that holds packs and anything else OCI clients push.

Without --config it keeps its content in a local folder (--data) and listens
on 127.0.0.1:5000 (--addr). --config takes a distribution configuration file:
every storage driver distribution supports (filesystem, S3, GCS, Azure) and
its Redis cache. REGISTRY_* environment variables override the configuration
as they do for distribution, e.g. REGISTRY_AUTH=htpasswd with
REGISTRY_AUTH_HTPASSWD_REALM and REGISTRY_AUTH_HTPASSWD_PATH, or
REGISTRY_HTTP_TLS_CERTIFICATE and REGISTRY_HTTP_TLS_KEY. With htpasswd,
REGISTRY_AUTH_HTPASSWD_ANONYMOUSPULL=true (auth.htpasswd.anonymouspull)
lets anyone pull, while pushes and deletes still need a user.

Pack versions are immutable: once pushed, a version can't be overwritten with
different content or deleted, unless --allow-overwrite is given (or the
packyard middleware's allowoverwrite option is set in the configuration).

It stops gracefully on SIGINT or SIGTERM: requests in flight finish within
the drain timeout (http.draintimeout, 30s by default).`,
		Example: `  packyard serve
  packyard pack push examples/* -r localhost:5000 --plain-http
  packyard serve --config /etc/packyard/registry.yml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.config.File, "config", "", "distribution configuration file (default: filesystem storage in --data)")
	f.StringVar(&opts.config.Addr, "addr", "", "address to listen on, over the configuration's (default "+server.DefaultAddr+")")
	f.StringVar(&opts.config.DataDir, "data", "", "storage folder when no --config is given (default "+server.DefaultDataDir()+")")
	f.StringVar(&opts.config.DebugAddr, "debug-addr", "", "address of the debug server: Prometheus metrics at /metrics, pprof (default: the configuration's http.debug.addr, or none)")
	f.BoolVar(&opts.config.AllowOverwrite, "allow-overwrite", false, "let pack versions be overwritten (push --force) and deleted; by default they are immutable")
	cmd.AddCommand(newServeGCCmd())
	f.StringVar(&opts.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&opts.logLevel, "log-level", "info", "least severe level logged: debug, info, warn or error")
	return cmd
}

func runServe(cmd *cobra.Command, opts *serveOptions) error {
	if opts.config.File != "" && opts.config.DataDir != "" {
		return fmt.Errorf("--data applies to the default configuration only; set the storage folder in %s", opts.config.File)
	}
	logger, err := newLogger(cmd.ErrOrStderr(), opts.logFormat, opts.logLevel)
	if err != nil {
		return err
	}
	cfg, err := server.LoadConfig(opts.config)
	if err != nil {
		return err
	}
	srv, err := server.New(cmd.Context(), cfg, logger)
	if err != nil {
		return err
	}
	return srv.ListenAndServe(cmd.Context())
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

type gcOptions struct {
	config server.ConfigOptions
	gc     server.GCOptions
}

func newServeGCCmd() *cobra.Command {
	opts := &gcOptions{}
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Delete blobs no manifest references (dry run unless --delete)",
		Long: `gc runs distribution's garbage collection on the registry's storage: it
marks every blob a manifest references and sweeps the others. Without
--delete it only reports what it would delete.

--delete-untagged also deletes manifests no tag points to, except the ones
packyard keeps: referrers (signatures, SBOMs) of a manifest, and the
Palette base manifest of a spectro-packs/archive repository.

Run it while no registry writes to the storage: stop packyard serve, or
set storage.maintenance.readonly in the configuration of every replica.`,
		Example: `  packyard serve gc
  packyard serve gc --delete
  packyard serve gc --config /etc/packyard/registry.yml --delete --delete-untagged`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.config.File != "" && opts.config.DataDir != "" {
				return fmt.Errorf("--data applies to the default configuration only; set the storage folder in %s", opts.config.File)
			}
			cfg, err := server.LoadConfig(opts.config)
			if err != nil {
				return err
			}
			return server.GarbageCollect(cmd.Context(), cfg, opts.gc)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.config.File, "config", "", "distribution configuration file (default: filesystem storage in --data)")
	f.StringVar(&opts.config.DataDir, "data", "", "storage folder when no --config is given (default "+server.DefaultDataDir()+")")
	f.BoolVar(&opts.gc.Delete, "delete", false, "delete what is unreferenced (default: report only)")
	f.BoolVar(&opts.gc.DeleteUntagged, "delete-untagged", false, "also delete untagged manifests, keeping referrers and Palette base manifests")
	f.BoolVarP(&opts.gc.Quiet, "quiet", "q", false, "report only what is deleted")
	return cmd
}
