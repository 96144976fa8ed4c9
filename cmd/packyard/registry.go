package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/packyard/packyard/cmd/packyard/option"
	"github.com/packyard/packyard/pkg/ociregistry"
)

// maxPasswordSize bounds what --password-stdin reads.
const maxPasswordSize = 64 << 10

type loginOptions struct {
	option.Remote
	username      string
	passwordStdin bool
	password      string // only to refuse it
	setDefault    bool
}

func newLoginCmd() *cobra.Command {
	var opts loginOptions
	cmd := &cobra.Command{
		Use:   "login SERVER[/BASE] [-u USER] [--password-stdin]",
		Short: "Log in to a registry",
		Long: `Log in to the registry SERVER: the credentials are checked against the
registry, then saved in the docker config.json that docker, oras and helm
share ($DOCKER_CONFIG/config.json, or ~/.docker/config.json), through its
credential helper when it names one.

The password is read from standard input with --password-stdin, or asked
for without echo on a terminal; it is never taken as a flag, where other
users could see it in the process list. With --default, SERVER[/BASE]
becomes the registry that pack commands use when -r is left out.`,
		Example: `  packyard registry login registry.example.com -u alice
  echo "$TOKEN" | packyard registry login registry.example.com -u alice --password-stdin
  packyard registry login localhost:5000/team -u ci --password-stdin --plain-http --default`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogin(cmd, opts, args[0])
		},
	}
	f := cmd.Flags()
	opts.ApplyConnectionFlags(f)
	f.StringVarP(&opts.username, "username", "u", "", "user name (asked for on a terminal when missing)")
	f.BoolVar(&opts.passwordStdin, "password-stdin", false, "read the password or token from standard input")
	f.BoolVar(&opts.setDefault, "default", false, "use SERVER[/BASE] when pack commands are given no -r")
	// Refused, with advice: a password in the arguments is visible to every
	// user of the machine.
	f.StringVarP(&opts.password, "password", "p", "", "not accepted: use --password-stdin")
	_ = f.MarkHidden("password")
	return cmd
}

// errPasswordFlag: the password was given as a flag, and is refused.
var errPasswordFlag = errors.New("a password is not accepted as a flag value: other users of this machine can read it in the process list")

func runLogin(cmd *cobra.Command, opts loginOptions, server string) error {
	if cmd.Flags().Changed("password") {
		return &cliError{err: errPasswordFlag, recommendation: "Pipe it in with --password-stdin, as in: cat token.txt | packyard registry login SERVER -u USER --password-stdin"}
	}
	loc, err := ociregistry.ParseLocation(server)
	if err != nil {
		return err
	}
	cred, err := readCredential(cmd, opts)
	if err != nil {
		return err
	}
	client, err := opts.Client()
	if err != nil {
		return err
	}
	if err := client.Login(cmd.Context(), loc.Registry, cred); err != nil {
		return redact(remoteError(err, loc), cred.Password)
	}
	w := &errWriter{w: cmd.OutOrStdout()}
	w.printf("logged in to %s as %s\n", loc.Registry, cred.Username)
	if opts.setDefault {
		cfg, err := option.LoadConfig()
		if err != nil {
			return err
		}
		cfg.DefaultRegistry = loc.String()
		if err := option.SaveConfig(cfg); err != nil {
			return fmt.Errorf("saving the default registry: %w", err)
		}
		w.printf("default registry: %s\n", loc)
	}
	return w.err
}

// readCredential gets the user name and password from the flags, standard
// input, or the terminal.
func readCredential(cmd *cobra.Command, opts loginOptions) (auth.Credential, error) {
	cred := auth.Credential{Username: opts.username}
	stderr := cmd.ErrOrStderr()
	if opts.passwordStdin {
		if cred.Username == "" {
			return cred, &cliError{err: errors.New("--password-stdin needs a user name"), recommendation: "Pass it with -u USER."}
		}
		data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxPasswordSize))
		if err != nil {
			return cred, fmt.Errorf("reading the password from standard input: %w", err)
		}
		cred.Password = strings.TrimRight(string(data), "\r\n")
		if cred.Password == "" {
			return cred, errors.New("standard input held no password")
		}
		return cred, nil
	}
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return cred, &cliError{
			err:            errors.New("no terminal to ask for the password on"),
			recommendation: "Pipe the password in with --password-stdin (and give the user with -u).",
		}
	}
	if cred.Username == "" {
		_, _ = fmt.Fprint(stderr, "Username: ")
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return cred, fmt.Errorf("reading the user name: %w", err)
		}
		cred.Username = strings.TrimSpace(line)
		if cred.Username == "" {
			return cred, errors.New("no user name given")
		}
	}
	_, _ = fmt.Fprint(stderr, "Password: ")
	pw, err := term.ReadPassword(int(in.Fd()))
	_, _ = fmt.Fprintln(stderr)
	if err != nil {
		return cred, fmt.Errorf("reading the password: %w", err)
	}
	cred.Password = string(pw)
	if cred.Password == "" {
		return cred, errors.New("no password given")
	}
	return cred, nil
}

// redact keeps a secret out of an error's text, whatever a registry or
// helper put in it.
func redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &remoteFailure{msg: strings.ReplaceAll(err.Error(), secret, "*****"), err: err}
}

type logoutOptions struct {
	option.Remote
}

func newLogoutCmd() *cobra.Command {
	var opts logoutOptions
	cmd := &cobra.Command{
		Use:   "logout SERVER",
		Short: "Log out of a registry",
		Long: `Remove the credentials saved for SERVER from the docker config.json (or its
credential helper). The default registry, if any, stays as it is.`,
		Example: `  packyard registry logout registry.example.com`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := ociregistry.ParseLocation(args[0])
			if err != nil {
				return err
			}
			client, err := opts.Client()
			if err != nil {
				return err
			}
			had, err := client.Logout(cmd.Context(), loc.Registry)
			if err != nil {
				return err
			}
			if !had {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "not logged in to %s\n", loc.Registry)
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "logged out of %s\n", loc.Registry)
			return err
		},
	}
	return cmd
}
