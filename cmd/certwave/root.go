package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Exit codes of certwave.
const (
	exitError   = 1 // invalid input, I/O or API failure
	exitFailed  = 2 // a scenario failed or a plan was refused
	exitStopped = 3 // a run stopped on a stop-and-ask rule
)

// codedError carries the exit code for an error that main prints.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

func exitCode(err error) int {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitError
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "certwave",
		Short: "Plan, rehearse and run the move from a wildcard certificate to per-listener certificates",
		Long: `certwave moves a Kubernetes cluster from one shared wildcard Let's Encrypt
certificate to one certificate per Gateway listener, created by cert-manager's
gateway-shim, without breaching Let's Encrypt's rate limits and without taking
routes down. Start with inventory, then plan, then simulate.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInventoryCommand(), newPlanCommand())
	addLaterCommands(root)
	return root
}
