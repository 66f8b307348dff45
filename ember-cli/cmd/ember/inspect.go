package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ember-infer/ember/ember-core/memplan"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show a model's config facts, tensors, bytes on disk vs resident, and its memory plan",
		ArgsUsage: "MODEL",
		UsageText: `ember inspect [flags] MODEL

Examples:
  ember inspect ~/hf/hub/models--Qwen--Qwen3-4B-Instruct-2507
  ember inspect Qwen/Qwen3-8B
  ember inspect --num-gpus 2 --gpu-mem 12GiB --ctx 8192 ./snapshots/Qwen3-1.7B
  ember inspect --json Qwen3-0.6B`,
		Description: `MODEL is a snapshot directory (config.json + *.safetensors), a models--Org--Name
cache directory (the snapshot refs/main names, else the newest) or an Org/Name id
looked up in the Hugging Face cache; with no snapshot found, a built-in preset of
that name is shown instead and stderr says so. Flags go before MODEL. The checkpoint
is checked against config.json (every tensor present, with its shape and a readable
dtype). The plan row is exactly the one "ember plan --model MODEL" prints with the
same flags (default: one 12 GiB GPU, ctx 4096, batch 1, chunk 512).`,
		Flags:  planFlags(),
		Action: inspectAction,
	}
}

// inspectDoc is ember inspect --json.
type inspectDoc struct {
	Model    string `json:"model"`
	Source   string `json:"source"` // "snapshot" or "preset"
	Path     string `json:"path,omitempty"`
	Revision string `json:"revision,omitempty"`
	Via      string `json:"via,omitempty"`

	Layers                int    `json:"layers"`
	Hidden                int    `json:"hidden"`
	Heads                 int    `json:"heads"`
	KVHeads               int    `json:"kv_heads"`
	Intermediate          int    `json:"intermediate"`
	HeadDim               int    `json:"head_dim"`
	Vocab                 int    `json:"vocab"`
	MaxPositionEmbeddings int    `json:"max_position_embeddings"`
	TorchDType            string `json:"torch_dtype"`
	Tied                  bool   `json:"tied"`
	StoresLMHead          bool   `json:"stores_lm_head"`

	NumTensors           int            `json:"num_tensors"`
	DTypes               map[string]int `json:"dtypes,omitempty"`
	ExtraTensors         []string       `json:"extra_tensors,omitempty"`
	WeightsDiskBytes     int64          `json:"weights_disk_bytes"`
	FileBytes            int64          `json:"file_bytes,omitempty"`
	WeightsResidentBytes int64          `json:"weights_resident_bytes"`
	Plan                 planDoc        `json:"plan"`
}

func inspectAction(c *cli.Context) error {
	if c.Args().Len() != 1 {
		if c.Args().Len() > 1 && strings.HasPrefix(c.Args().Get(1), "-") {
			return fmt.Errorf("inspect: put flags before MODEL (got %q after it)", c.Args().Get(1))
		}
		return fmt.Errorf("inspect takes one MODEL argument, got %d (see ember inspect --help)", c.Args().Len())
	}
	s, err := readPlanSettings(c)
	if err != nil {
		return err
	}
	l, err := loadPlanModel(c.Args().First(), c.App.ErrWriter)
	if err != nil {
		return err
	}
	defer l.close()
	m := l.model
	row, err := planRow(m, s)
	if err != nil {
		return err
	}
	cfg := m.Config
	doc := inspectDoc{
		Model: m.Name, Source: row.Source, Path: row.Path,
		Layers: cfg.NumHiddenLayers, Hidden: cfg.HiddenSize, Heads: cfg.NumAttentionHeads, KVHeads: cfg.NumKeyValueHeads,
		Intermediate: cfg.IntermediateSize, HeadDim: cfg.HeadDim, Vocab: cfg.VocabSize,
		MaxPositionEmbeddings: cfg.MaxPositionEmbeddings, TorchDType: cfg.TorchDType,
		Tied: m.Tied(), StoresLMHead: m.StoresLMHead,
		NumTensors: m.NumTensors, WeightsDiskBytes: m.DiskBytes, WeightsResidentBytes: row.WeightsResidentBytes,
		Plan: planDoc{Ctx: s.ctx, Batch: s.batch, Chunk: s.chunk, StepTokens: memplan.StepTokens(s.ctx, s.chunk),
			Devices: s.devices, OverheadBytes: s.overhead, WorkspaceBytes: memplan.CUBLASWorkspace,
			Models: []planModelRow{row}},
	}
	dtypes := fmt.Sprintf("%s×%d (preset)", safetensorsDType(cfg.TorchDType), m.NumTensors)
	if l.snap != nil {
		doc.Revision, doc.Via = l.resolved.Revision, l.resolved.Via
		doc.DTypes = map[string]int{}
		for d, n := range l.snap.DTypes() {
			doc.DTypes[string(d)] = n
		}
		doc.ExtraTensors = l.snap.Extra()
		doc.FileBytes = l.snap.Tensors.FileBytes()
		dtypes = l.snap.DTypeSummary()
	}
	if c.Bool("json") {
		return writePlanJSON(c.App.Writer, doc)
	}

	w := c.App.Writer
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s\n", doc.Model)
	if l.snap != nil {
		from := string(l.resolved.Kind)
		if l.resolved.Revision != "" {
			from += fmt.Sprintf(", revision %s (%s)", l.resolved.Revision, l.resolved.Via)
		}
		fmt.Fprintf(tw, "snapshot\t%s (%s)\n", doc.Path, from)
	} else {
		fmt.Fprintf(tw, "snapshot\tnone: built-in preset\n")
	}
	fmt.Fprintf(tw, "config\t%s\n", m.Describe())
	fmt.Fprintf(tw, "tensors\t%d, %s\n", doc.NumTensors, dtypes)
	fmt.Fprintf(tw, "lm_head\t%s\n", lmHeadFact(m, len(s.devices)))
	disk := fmt.Sprintf("%s of tensor data (%d bytes)", memplan.FormatSize(doc.WeightsDiskBytes), doc.WeightsDiskBytes)
	if doc.FileBytes > 0 {
		disk += fmt.Sprintf(", files %s with headers", memplan.FormatSize(doc.FileBytes))
	}
	fmt.Fprintf(tw, "on disk\t%s\n", disk)
	fmt.Fprintf(tw, "resident\t%s over %d GPU(s) with split %s (%d bytes)\n",
		memplan.FormatSize(doc.WeightsResidentBytes), len(s.devices), memplan.SplitString(row.Split), doc.WeightsResidentBytes)
	if len(doc.ExtraTensors) > 0 {
		fmt.Fprintf(tw, "extra\t%d tensors the config does not use: %s\n", len(doc.ExtraTensors), strings.Join(doc.ExtraTensors, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, warn := range row.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "ember: %s: %s\n", row.Model, warn)
	}
	writePlanTables(w, doc.Plan, false)
	return nil
}

// lmHeadFact says how lm_head is stored and where it is resident.
func lmHeadFact(m *memplan.Model, gpus int) string {
	switch {
	case !m.Tied():
		return "untied, stored, resident on the last GPU"
	case m.StoresLMHead && gpus > 1:
		return "tied, but the checkpoint also stores lm_head.weight (counted on disk); the last GPU holds its own copy"
	case m.StoresLMHead:
		return "tied, but the checkpoint also stores lm_head.weight (counted on disk, not resident on one GPU)"
	case gpus > 1:
		return "tied, not stored; the last GPU holds a copy of the embedding"
	}
	return "tied, not stored; shares the embedding"
}

// safetensorsDType spells a config.json torch_dtype the way safetensors headers do.
func safetensorsDType(torch string) string {
	switch strings.ToLower(torch) {
	case "bfloat16":
		return "BF16"
	case "float16":
		return "F16"
	case "float32":
		return "F32"
	}
	return strings.ToUpper(torch)
}
