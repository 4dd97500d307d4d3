package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// resumeCommand rebuilds the command line of a run from the flags given
// on it, so that the Next of a stop can be pasted as it is: the same
// kubeconfig, context, state, GitOps tree and variables, plus --resume.
func resumeCommand(cmd *cobra.Command) string {
	args := append([]string{"certwave", cmd.Name()}, flagArgs(cmd, func(name string) bool { return name != "resume" })...)
	return strings.Join(append(args, "--resume"), " ")
}

// flagArgs returns the flags set on cmd's command line that keep selects,
// quoted for a POSIX shell.
func flagArgs(cmd *cobra.Command, keep func(name string) bool) []string {
	var args []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if !keep(f.Name) {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name, shellQuote(v))
			}
			return
		}
		if f.Value.Type() == "bool" {
			if f.Value.String() == "true" {
				args = append(args, "--"+f.Name)
			} else {
				args = append(args, "--"+f.Name+"=false")
			}
			return
		}
		args = append(args, "--"+f.Name, shellQuote(f.Value.String()))
	})
	return args
}

// shellQuote quotes s for a POSIX shell unless it needs no quotes.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, needsQuote) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func needsQuote(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("-_./:=,@+%", r)
}
