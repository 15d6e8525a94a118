package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/store"
)

// cliActor is the audit log's actor for changes made on the command line.
const cliActor = "cli"

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage console users (roles admin and read-only)",
		Long: `Manage the users of the console and of the admin API. Role admin may change
everything; read-only may look at everything but user accounts and change nothing.
Each change is written to the audit log with the actor "cli".`,
	}
	cmd.AddCommand(newUserAddCmd(), newUserPasswdCmd(), newUserRoleCmd(), newUserDeleteCmd(), newUserListCmd())
	return cmd
}

// withUsers opens the configured store (migrated) and gives fn the application's user
// operations acting as the command line's administrator (audit actor "cli"): the same
// validation, last-admin rule and audit entries as the console and the admin API.
func withUsers(cmd *cobra.Command, f *serverFlags, fn func(ctx context.Context, a *app.App) error) error {
	cfg, err := f.load()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	st, _, err := openStore(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := app.New(app.Deps{Audit: st, Users: st, Sessions: st})
	if err != nil {
		return err
	}
	return fn(app.ContextWithUser(cmd.Context(), app.User{Name: cliActor, Role: store.RoleAdmin}), a)
}

// readPassword reads a new password: the first line of stdin with --password-stdin,
// else twice from the terminal without echo.
func readPassword(cmd *cobra.Command, fromStdin bool, name string) (string, error) {
	var pw string
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	} else {
		in, ok := cmd.InOrStdin().(*os.File)
		if !ok || !term.IsTerminal(int(in.Fd())) {
			return "", errors.New("no terminal to ask the password on: pipe it in with --password-stdin")
		}
		ask := func(prompt string) (string, error) {
			fmt.Fprint(cmd.ErrOrStderr(), prompt)
			b, err := term.ReadPassword(int(in.Fd()))
			fmt.Fprintln(cmd.ErrOrStderr())
			if err != nil {
				return "", fmt.Errorf("read the password: %w", err)
			}
			return string(b), nil
		}
		var err error
		if pw, err = ask("Password: "); err != nil {
			return "", err
		}
		again, err := ask("Password again: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", errors.New("the two passwords differ")
		}
	}
	if err := app.ValidatePassword(pw, name); err != nil {
		return "", err
	}
	return pw, nil
}

func newUserAddCmd() *cobra.Command {
	var (
		f         serverFlags
		role      string
		fromStdin bool
	)
	cmd := &cobra.Command{
		Use:   "add NAME --role admin|read-only",
		Short: "Create a console user",
		Example: `  waptserver user add admin --role admin
  echo "$PASSWORD" | waptserver user add auditor --role read-only --password-stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := app.ValidateUsername(name); err != nil {
				return err
			}
			if _, err := app.ParseRole(role); err != nil {
				return err // before asking the password
			}
			pw, err := readPassword(cmd, fromStdin, name)
			if err != nil {
				return err
			}
			return withUsers(cmd, &f, func(ctx context.Context, a *app.App) error {
				u, err := a.CreateUser(ctx, app.NewUser{Username: name, Password: &pw, Role: &role})
				if app.KindOf(err) == app.Conflict {
					return fmt.Errorf("user %q exists already (change its password with `waptserver user passwd %s`)", name, name)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %q created with role %s\n", name, u.Role)
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&role, "role", "", "admin or read-only (required)")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin instead of the terminal")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func newUserPasswdCmd() *cobra.Command {
	var (
		f         serverFlags
		fromStdin bool
	)
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a console user's password (ends the user's sessions)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			pw, err := readPassword(cmd, fromStdin, name)
			if err != nil {
				return err
			}
			return withUsers(cmd, &f, func(ctx context.Context, a *app.App) error {
				if _, err := a.UpdateUser(ctx, name, app.NewUser{Password: &pw}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password of %q changed\n", name)
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin instead of the terminal")
	return cmd
}

func newUserRoleCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "role NAME admin|read-only",
		Short: "Change a console user's role",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return withUsers(cmd, &f, func(ctx context.Context, a *app.App) error {
				u, err := a.UpdateUser(ctx, name, app.NewUser{Role: &args[1]})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %q now has role %s\n", name, u.Role)
				return nil
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newUserDeleteCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a console user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return withUsers(cmd, &f, func(ctx context.Context, a *app.App) error {
				if err := a.DeleteUser(ctx, name); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %q deleted\n", name)
				return nil
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newUserListCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List console users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withUsers(cmd, &f, func(ctx context.Context, a *app.App) error {
				us, err := a.ListUsers(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USER\tROLE\tCREATED\tUPDATED")
				for _, u := range us {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Username, u.Role, u.CreatedAt.UTC().Format(time.RFC3339), u.UpdatedAt.UTC().Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	f.register(cmd)
	return cmd
}
