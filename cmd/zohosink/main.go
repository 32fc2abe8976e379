// Command zohosink syncs Debezium change events from Kafka to Zoho CRM.
//
// It only parses flags, loads the config, wires and runs: the pipeline is
// package connector, the CRM client package zoho, the decoder package schema.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	"zohosink/connector/config"
)

// Set at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string // flags and an example, shown by --help
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands []command

func init() {
	commands = []command{
		{"run", "run the syncs until SIGINT/SIGTERM", runUsage, cmdRun},
		{"validate", "check a config without writing anything", validateUsage, cmdValidate},
		{"demo", "the whole pipeline on this machine, nothing installed", demoUsage, cmdDemo},
		{"auth", "get a Zoho refresh token", authUsage, cmdAuth},
		{"dlq", "inspect or replay the dead-letter topic", dlqUsage, cmdDLQ},
		{"zoho-sim", "run the Zoho CRM simulator as a server", simUsage, cmdSim},
		{"version", "print the version", versionUsage, cmdVersion},
	}
}

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errSilent exits non-zero after the command printed its own explanation.
var errSilent = errors.New("")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "-v") {
		args = []string{"version"}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errSilent):
			return 1
		}
		fmt.Fprintf(stderr, "zohosink %s: %s\n", c.name, config.RedactURL(oneLine(err.Error())))
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	fmt.Fprintf(stderr, "zohosink: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func usage(w io.Writer) {
	fmt.Fprintln(w, "zohosink keeps Zoho CRM in step with your warehouse: Debezium change events from Kafka, written to Zoho CRM.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: zohosink <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Start with: zohosink demo        Then: zohosink <command> --help")
}

// flags makes a flag set whose --help prints the command's usage and
// example on stdout (so it pipes into less or grep). A flag error is one
// line on stderr (see parse), exit 2.
func flags(name, usageText string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("zohosink "+name, flag.ContinueOnError)
	errs := &countingWriter{w: io.Discard}
	fs.SetOutput(errs)
	fs.Usage = func() {
		if errs.n > 0 { // the flag package wrote an error: parse reports it
			return
		}
		fmt.Fprintf(stdout, "%s\n", strings.TrimSpace(usageText))
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(stdout, "\nFlags:\n")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fs.SetOutput(errs)
		}
	}
	return fs
}

// countingWriter counts what was written through it.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	return c.w.Write(p)
}

// badFlagValue finds the flag named by the flag package's value errors.
var badFlagValue = regexp.MustCompile(`for flag -+([\w-]+):`)

// parse parses flags and refuses stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		hint := ""
		if m := badFlagValue.FindStringSubmatch(err.Error()); m != nil {
			if f := fs.Lookup(m[1]); f != nil {
				if g, ok := f.Value.(flag.Getter); ok {
					if _, isDuration := g.Get().(time.Duration); isDuration {
						hint = "; a duration needs a unit, e.g. 30s or 2m"
					}
				}
			}
		}
		return &exitError{code: 2, err: fmt.Errorf("%w%s (see %s --help)", err, hint, fs.Name())}
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))}
	}
	return nil
}

const versionUsage = `
zohosink version

Prints the version, the commit it was built from and the Go version.

Example:
  zohosink version    # prints: zohosink v1.2.0 (commit 3f2a9c1..., go1.26.8)`

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("version", versionUsage, stdout, stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	v, c, goVersion := version, commit, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	fmt.Fprintf(stdout, "zohosink %s (commit %s, %s)\n", v, c, goVersion)
	return nil
}
