package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/memplan"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

func devicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "devices",
		Usage: "list the NVIDIA GPUs: name, memory total and free, driver, peer-to-peer matrix",
		UsageText: `ember devices [--json]

Examples:
  ember devices
  ember devices --json | jq '.gpus[] | {index, memory_free_bytes}'`,
		Description: `Reads NVML (libnvidia-ml.so.1, part of the NVIDIA driver; EMBER_LIBNVML names
another copy). The P2P matrix says whether the GPU of the row can read the memory
of the GPU of the column directly ("OK") or not ("no"), with how they connect, as
nvidia-smi topo -m abbreviates it: PIX and PXB (PCIe switches), PHB (host
bridge), NODE, SYS (across CPU sockets). Pairs without P2P still work in a split:
their copies are staged through pinned host memory. When NVML is missing this
says so in one sentence and exits 4; with --json it prints {"gpus": [], "p2p": [],
"unavailable": "<that sentence>"} and exits 0.`,
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON instead of tables"}},
		Action: devicesAction,
	}
}

func devicesAction(c *cli.Context) error {
	inv, err := cuda.ListGPUs()
	w := c.App.Writer
	if err != nil && c.Bool("json") && errors.Is(err, device.ErrUnavailable) {
		// No NVML is an answer, not a failure: no GPUs, and why.
		b, _ := json.MarshalIndent(map[string]any{"gpus": []cuda.GPU{}, "p2p": [][]string{}, "unavailable": err.Error()}, "", "  ")
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	if err != nil {
		return err
	}
	if c.Bool("json") {
		b, err := json.MarshalIndent(inv, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	fmt.Fprintf(w, "driver %s (CUDA %s), %d GPU(s)\n", inv.Driver, inv.CUDA, len(inv.GPUs))
	if len(inv.GPUs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GPU\tNAME\tMEMORY\tFREE\tBUS ID")
	for _, g := range inv.GPUs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", g.Index, g.Name, memplan.FormatSize(g.MemTotal), memplan.FormatSize(g.MemFree), g.BusID)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nP2P (row reads column):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "")
	for i := range inv.GPUs {
		fmt.Fprintf(tw, "\tGPU%d", i)
	}
	fmt.Fprintln(tw)
	for i, row := range inv.P2P {
		fmt.Fprintf(tw, "GPU%d", i)
		for _, cell := range row {
			fmt.Fprintf(tw, "\t%s", cell)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
