// Command ember runs, plans and measures Qwen3 dense models on one or two GPUs.
//
//	ember plan --all-presets --num-gpus 2 --gpu-mem 12GiB
//	ember inspect ~/hf/hub/models--Qwen--Qwen3-4B-Instruct-2507
//	ember presets
//
// Each verb has --help with examples. Results go to stdout, notes and errors to
// stderr; the exit status is non-zero on failure.
package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func init() {
	// Help shows each default once: a flag whose usage already says its
	// default (e.g. "(default: all cores)") loses the "(default: 0)" urfave/cli
	// appends for its zero value, and off booleans lose "(default: false)".
	plain := cli.FlagStringer
	cli.FlagStringer = func(f cli.Flag) string { return tidyDefault(plain(f)) }
}

var autoDefault = regexp.MustCompile(` \(default: [^()]*\)`)

func tidyDefault(s string) string {
	s = strings.Replace(s, " (default: false)", "", 1)
	if m := autoDefault.FindAllStringIndex(s, -1); len(m) > 1 || (len(m) == 1 && strings.Count(s, "(default") > 1) {
		last := m[len(m)-1]
		s = s[:last[0]] + s[last[1]:]
	}
	return s
}

// commands lists the verbs. Each lives in its own file; add yours here.
func commands() []*cli.Command {
	return []*cli.Command{
		inspectCommand(),
		planCommand(),
		presetsCommand(),
		runCommand(),
		checkCommand(),
		tokenizeCommand(),
		detokenizeCommand(),
		synthCommand(),
		benchCommand(),
		profileCommand(),
		milestoneCommand(),
		reportCommand(),
		devicesCommand(),
		gpuCheckCommand(),
		prefixCacheBenchmarkCommand(), multiCandidateRolloutCommand(),
	}
}

// newApp builds the ember application writing results to stdout and notes to stderr.
func newApp(stdout, stderr io.Writer) *cli.App {
	cmds := commands()
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = usageError
		}
	}
	return &cli.App{
		Name:           "ember",
		Usage:          "plan, run and measure Qwen3 dense models on one or two GPUs",
		UsageText:      "ember <command> [flags] [args]\n\nember plan --all-presets --num-gpus 2 --gpu-mem 12GiB\nember inspect Qwen/Qwen3-8B",
		Commands:       cmds,
		Writer:         stdout,
		ErrWriter:      stderr,
		HideVersion:    true,
		Flags:          []cli.Flag{&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version, the Go version, the CPU kernels and the CUDA driver and cuBLAS found"}},
		OnUsageError:   usageError,
		ExitErrHandler: func(*cli.Context, error) {}, // run reports errors, once
		Before:         func(*cli.Context) error { return cpu.CheckEnv() },
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				printVersion(c.App.Writer)
				return nil
			}
			if c.Args().Present() {
				return fmt.Errorf("unknown command %q (see ember --help)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
}

// usageError turns a flag parsing error into one sentence pointing at --help.
func usageError(c *cli.Context, err error, _ bool) error {
	name := "ember"
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		name += " " + c.Command.Name
	}
	if m := badFlagValue.FindStringSubmatch(err.Error()); m != nil {
		if want := flagWants(c, m[2]); want != "" {
			dashes := "--"
			if len(m[2]) == 1 {
				dashes = "-"
			}
			return fmt.Errorf("%s: %s%s %s: want %s (see %s --help)", name, dashes, m[2], m[1], want, name)
		}
	}
	return fmt.Errorf("%s: %v (see %s --help)", name, err, name)
}

// badFlagValue is the flag package's error for a value that does not parse.
var badFlagValue = regexp.MustCompile(`^invalid value ("(?:[^"\\]|\\.)*") for flag -([^:]+): parse error$`)

// flagWants says what the flag called name takes, by its type, or "" for a
// flag that is not a number.
func flagWants(c *cli.Context, name string) string {
	var flags []cli.Flag
	if c.Command != nil {
		flags = c.Command.Flags
	}
	for _, f := range append(flags, c.App.Flags...) {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		switch f.(type) {
		case *cli.Uint64Flag, *cli.UintFlag:
			return fmt.Sprintf("a whole number from 0 to %d", uint64(math.MaxUint64))
		case *cli.IntFlag, *cli.Int64Flag:
			return "a whole number"
		case *cli.Float64Flag:
			return "a number"
		case *cli.DurationFlag:
			return "a duration such as 30s or 5m"
		case *cli.BoolFlag:
			return "true or false"
		}
	}
	return ""
}

// run executes ember with args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return runIO(args, os.Stdin, stdout, stderr)
}

// runIO is run with stdin given too.
func runIO(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	app.Reader = stdin
	app.Metadata = map[string]any{"args": args, "noted": &sync.Map{}}
	if err := app.Run(args); err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "ember") {
			msg = "ember: " + msg
		}
		fmt.Fprintln(stderr, msg)
		return exitCode(err)
	}
	return 0
}

// invocation is the command line ember was run with, for report headers.
func invocation(c *cli.Context) []string {
	if args, ok := c.App.Metadata["args"].([]string); ok {
		return args
	}
	return os.Args
}

// exitCode maps the errors a sweep acts on to their exit statuses.
func exitCode(err error) int {
	switch {
	case errors.Is(err, device.ErrOutOfMemory):
		return exitOOM
	case errors.Is(err, device.ErrUnavailable):
		return exitUnavailable
	}
	return exitError
}
