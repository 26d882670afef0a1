package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoal-dev/shoal/api"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// exitProcess ends the CLI with the remote command's exit code; tests
// replace it.
var exitProcess = os.Exit

func newExecCmd(cf *clientFlags) *cobra.Command {
	var nf nsFlags
	var container string
	var stdin, tty bool
	cmd := &cobra.Command{
		Use:   "exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [ARGS...]",
		Short: "Run a command in a running container, from whichever node runs it",
		Long: `Run a command inside a running container of a pod, in its namespaces and
with its environment, and exit with the command's exit code. -i passes this
terminal's (or pipe's) input to the command; -t gives the command a terminal.
Put the command after --, so that its flags are not taken for shoal's.

With -t and a terminal on stdin, the terminal is put in raw mode for the
session, and its size follows window changes.`,
		Example: "  shoal exec web-0 -- ls -l /\n  shoal exec -it web-0 -c app -- sh\n  echo hello | shoal exec -i web-0 -- cat",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch dash := cmd.ArgsLenAtDash(); {
			case dash == 0:
				return fmt.Errorf("exec needs the pod before --: shoal exec POD -- COMMAND")
			case dash > 1:
				return fmt.Errorf("exec takes one pod before --, got %d arguments (%v): shoal exec POD -- COMMAND", dash, args[:dash])
			case len(args) < 2:
				return fmt.Errorf("exec needs a command: shoal exec %s -- COMMAND [ARGS...]", args[0])
			}
			name, err := podName(args[0])
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			opts := api.PodExecOptions{
				Container: container,
				Command:   args[1:],
				Stdout:    cmd.OutOrStdout(),
				Stderr:    cmd.ErrOrStderr(),
				TTY:       tty,
			}
			if stdin {
				opts.Stdin = cmd.InOrStdin()
			}
			if tty && stdin {
				restore, sizes := rawTerminal(cmd.Context())
				defer restore()
				opts.Resize = sizes
			}
			pods, _ := api.ResourceForKind("Pod")
			code, err := cl.Exec(cmd.Context(), nf.ns(pods), name, opts)
			if err != nil {
				return err
			}
			if code != 0 {
				exitProcess(code)
			}
			return nil
		},
	}
	nf.add(cmd, false)
	cmd.Flags().StringVarP(&container, "container", "c", "", "container name (required when the pod has several)")
	cmd.Flags().BoolVarP(&stdin, "stdin", "i", false, "pass stdin to the command")
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "give the command a terminal (stdout and stderr become one stream)")
	return cmd
}

// rawTerminal puts stdin's terminal in raw mode, if it is one, and reports
// its size now and on every window change. restore puts it back.
func rawTerminal(ctx context.Context) (restore func(), sizes <-chan api.TerminalSize) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return func() {}, nil
	}
	old, err := term.MakeRaw(fd)
	if err != nil {
		return func() {}, nil
	}
	ch := make(chan api.TerminalSize, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	send := func() {
		if w, h, err := term.GetSize(fd); err == nil {
			select {
			case ch <- api.TerminalSize{Width: uint16(w), Height: uint16(h)}:
			default:
			}
		}
	}
	send()
	go func() {
		for {
			select {
			case <-winch:
				send()
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
		term.Restore(fd, old)
	}, ch
}
