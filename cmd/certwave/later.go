package main

import "github.com/spf13/cobra"

// addLaterCommands registers the commands built on the engine.
func addLaterCommands(root *cobra.Command) {
	root.AddCommand(newSimulateCommand())
	root.AddCommand(newVerifyCommand())
	root.AddCommand(newRunCommand(), newStatusCommand(), newRollbackCommand())
}
