package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/memplan"
)

func presetsCommand() *cli.Command {
	return &cli.Command{
		Name:  "presets",
		Usage: "list the built-in model presets that planning uses when no snapshot is downloaded",
		UsageText: `ember presets [--json]

Examples:
  ember presets
  ember presets --json | jq '.[] | {name, weights_disk_gib}'`,
		Description: `Each preset is the model-defining part of an official config.json plus what its
checkpoint stores (bf16; whether a tied checkpoint also stores lm_head.weight), so
that "ember plan --model Qwen3-8B" works before anything is downloaded. The on-disk
size is the sum of the tensors' bytes, computed from the tensor list the config
implies; KV per request is layers × seq × kv_heads × head_dim × 2 × 2 bytes.`,
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"}},
		Action: presetsAction,
	}
}

// presetRow is one preset as printed by ember presets --json.
type presetRow struct {
	Name                  string      `json:"name"`
	RepoID                string      `json:"repo_id"`
	Hidden                int         `json:"hidden"`
	Layers                int         `json:"layers"`
	Heads                 int         `json:"heads"`
	KVHeads               int         `json:"kv_heads"`
	Intermediate          int         `json:"intermediate"`
	HeadDim               int         `json:"head_dim"`
	MaxPositionEmbeddings int         `json:"max_position_embeddings"`
	Vocab                 int         `json:"vocab"`
	Tied                  bool        `json:"tied"`
	StoresLMHead          bool        `json:"stores_lm_head"`
	DType                 string      `json:"dtype"`
	WeightsDiskBytes      int64       `json:"weights_disk_bytes"`
	WeightsDiskGiB        twoDecimals `json:"weights_disk_gib"`
	KVMiB2048             twoDecimals `json:"kv_mib_2048"`
	KVMiB4096             twoDecimals `json:"kv_mib_4096"`
}

func presetRows() []presetRow {
	var rows []presetRow
	for _, p := range memplan.Presets() {
		m := p.Model()
		c := p.Config
		rows = append(rows, presetRow{
			Name: p.Name, RepoID: p.RepoID, Hidden: c.HiddenSize, Layers: c.NumHiddenLayers,
			Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, Intermediate: c.IntermediateSize,
			HeadDim: c.HeadDim, MaxPositionEmbeddings: c.MaxPositionEmbeddings, Vocab: c.VocabSize,
			Tied: c.TieWordEmbeddings, StoresLMHead: m.StoresLMHead, DType: c.TorchDType,
			WeightsDiskBytes: m.DiskBytes, WeightsDiskGiB: twoDecimals(roundTo2(memplan.GiBOf(m.DiskBytes))),
			KVMiB2048: twoDecimals(roundTo2(memplan.MiBOf(m.KVPerRequest(2048)))),
			KVMiB4096: twoDecimals(roundTo2(memplan.MiBOf(m.KVPerRequest(4096)))),
		})
	}
	return rows
}

func presetsAction(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return fmt.Errorf("presets takes no arguments (got %q)", c.Args().First())
	}
	rows := presetRows()
	if c.Bool("json") {
		return writePlanJSON(c.App.Writer, rows)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHF ID\tHIDDEN\tLAYERS\tHEADS\tKV\tINTER\tHEAD_DIM\tMAX_POS\tTIED\tDISK GiB\tKV@2048\tKV@4096")
	for _, r := range rows {
		tied := "no"
		switch {
		case r.Tied && r.StoresLMHead:
			tied = "yes (lm_head also stored)"
		case r.Tied:
			tied = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.2f\t%s MiB\t%s MiB\n",
			r.Name, r.RepoID, r.Hidden, r.Layers, r.Heads, r.KVHeads, r.Intermediate, r.HeadDim,
			r.MaxPositionEmbeddings, tied, float64(r.WeightsDiskGiB), mibString(float64(r.KVMiB2048)), mibString(float64(r.KVMiB4096)))
	}
	return tw.Flush()
}
