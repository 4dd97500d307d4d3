// Command certwave-controller runs cert-manager v1.21.2's controllers out of
// cluster for certwave's `local` world. It is certwave's own entrypoint
// around cert-manager's importable packages, because the Go module proxy
// does not serve cert-manager's controller command.
//
// It reads cert-manager's controller configuration file
// (controller.config.cert-manager.io/v1alpha1 ControllerConfiguration) and
// lets a few flags override it. It differs from cert-manager's own command
// in these defaults and limits:
//   - it runs only the controllers a rehearsal needs (see
//     rehearsalControllers) unless the configuration names others;
//   - leader election is never run, so leaderElectionConfig.enabled must
//     be false or unset;
//   - the metrics and healthz servers are off unless an address is set
//     ("0" also turns a server off);
//   - ambient cloud credentials are off for ClusterIssuers too;
//   - only the ACME, CA and selfSigned issuers are registered, and Venafi
//     cannot work because its client library is a compile-only stub.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
)

func main() {
	os.Exit(runMain(os.Args[1:]))
}

// runMain parses the arguments, runs the controllers until SIGINT or
// SIGTERM, and returns the exit code.
func runMain(args []string) int {
	flags := flag.NewFlagSet("certwave-controller", flag.ContinueOnError)
	values := registerFlags(flags)
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments %q: every setting is a flag or in --config\n", flags.Args())
		return 2
	}
	if values.version {
		fmt.Printf("certwave-controller cert-manager %s (%s)\n", util.AppVersion, runtime.Version())
		return 0
	}

	cfg, err := loadConfig(values.configFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := applyFlags(cfg, flags, values); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	enabled, err := validateConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	logf.InitLogs()
	defer logf.FlushLogs()
	if err := logf.ValidateAndApply(&cfg.Logging); err != nil {
		fmt.Fprintf(os.Stderr, "invalid logging configuration: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "certwave-controller")

	if err := run(ctx, cfg, enabled); err != nil {
		logf.FromContext(ctx).Error(err, "controller stopped with an error")
		return 1
	}
	logf.FromContext(ctx).Info("controller stopped")
	return 0
}
