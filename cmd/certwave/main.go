// Command certwave rehearses, plans and executes the move of a Kubernetes
// cluster from one shared wildcard certificate to one certificate per
// Gateway listener. Run `certwave --help` for the commands.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(exitCode(err))
	}
}
