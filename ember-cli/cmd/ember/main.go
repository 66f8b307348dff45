// Command ember runs, plans and measures Qwen3 dense models on one or two GPUs.
//
//	ember plan --all-presets --gpus 2 --gpu-mem 12GiB
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
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
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
		UsageText:      "ember <command> [flags] [args]\n\nember plan --all-presets --gpus 2 --gpu-mem 12GiB\nember inspect Qwen/Qwen3-8B",
		Commands:       cmds,
		Writer:         stdout,
		ErrWriter:      stderr,
		HideVersion:    true,
		OnUsageError:   usageError,
		ExitErrHandler: func(*cli.Context, error) {}, // run reports errors, once
		Before:         func(*cli.Context) error { return cpu.CheckEnv() },
		Action: func(c *cli.Context) error {
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
	if c.Command != nil && c.Command.Name != "" {
		name += " " + c.Command.Name
	}
	return fmt.Errorf("%s: %v (see %s --help)", name, err, name)
}

// run executes ember with args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return runIO(args, os.Stdin, stdout, stderr)
}

// runIO is run with stdin given too.
func runIO(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	app.Reader = stdin
	app.Metadata = map[string]any{"args": args}
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
