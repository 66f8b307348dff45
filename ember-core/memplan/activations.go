package memplan

import "github.com/ember-infer/ember/ember-core/config"

// ActivationDTypeBytes is the element size of every activation buffer: activations
// are float32 whatever the weights' dtype.
const ActivationDTypeBytes = 4

// Buffer is one activation buffer of a device: its name, its dimensions and its size
// in bytes (product of Dims × ElemBytes).
type Buffer struct {
	Name      string  `json:"name"`
	Dims      []int64 `json:"dims"`
	ElemBytes int     `json:"elem_bytes"`
	Bytes     int64   `json:"bytes"`
	// Doc says what the buffer holds and why it has that shape.
	Doc string `json:"-"`
}

// StepTokens returns how many positions of each sequence one prefill step processes:
// the chunk, or the whole context when chunk is 0 (unchunked) or larger than ctx.
func StepTokens(ctx, chunk int) int {
	if chunk <= 0 || chunk > ctx {
		return ctx
	}
	return chunk
}

// Role says which ends of the model a device holds.
type Role struct {
	First bool // holds the embedding and receives token ids from the host
	Last  bool // holds the final norm and lm_head and produces logits
}

// Activations lists the buffers a device needs for one prefill step of batch
// sequences, T = StepTokens(ctx, chunk) positions each, attending over ctx positions.
// Decode steps use the same buffers with T = 1, so prefill is the peak. With
// B = batch, H = hidden, Q = heads×head_dim, KV = kv_heads×head_dim, I = intermediate,
// all float32:
//
//	hidden      B×T×H       residual stream (layer input and output)
//	residual    B×T×H       branch output (o_proj, down_proj) before it is added back
//	normed      B×T×H       RMSNorm output fed to the projections
//	q           B×T×Q       query projection (RoPE and q_norm applied in place)
//	k, v        B×T×KV      key and value projections of this step, before the KV append
//	attn_out    B×T×Q       attention output, input of o_proj
//	scores      B×heads×T×ctx  attention scores/probabilities of this step's queries
//	            against every position (T = ctx when unchunked: heads×ctx×ctx)
//	gate, up    B×T×I       MLP projections
//	act         B×T×I       silu(gate)·up, input of down_proj
//
// plus, on the first device, token_ids B×T int32; on every other device, p2p_recv
// B×T×H float32 (the hidden state received from the previous device); and on the last
// device logits B×vocab float32 — only the last position's logits are computed, in
// prefill as in decode, so logits do not grow with T.
func Activations(c *config.Config, batch, ctx, chunk int, role Role) []Buffer {
	b, t, n := int64(batch), int64(StepTokens(ctx, chunk)), int64(ctx)
	h, q, kv, inter := int64(c.HiddenSize), int64(c.QDim()), int64(c.KVDim()), int64(c.IntermediateSize)
	heads, vocab := int64(c.NumAttentionHeads), int64(c.VocabSize)
	var bufs []Buffer
	add := func(name string, elem int, doc string, dims ...int64) {
		bytes := int64(elem)
		for _, d := range dims {
			bytes *= d
		}
		bufs = append(bufs, Buffer{Name: name, Dims: dims, ElemBytes: elem, Bytes: bytes, Doc: doc})
	}
	const f32 = ActivationDTypeBytes
	if role.First {
		add("token_ids", 4, "int32 token ids of this step", b, t)
	} else {
		add("p2p_recv", f32, "hidden state received from the previous device", b, t, h)
	}
	add("hidden", f32, "residual stream", b, t, h)
	add("residual", f32, "branch output (o_proj, down_proj) before the residual add", b, t, h)
	add("normed", f32, "RMSNorm output fed to the projections", b, t, h)
	add("q", f32, "query projection, RoPE and q_norm in place", b, t, q)
	add("k", f32, "key projection of this step, before the KV append", b, t, kv)
	add("v", f32, "value projection of this step, before the KV append", b, t, kv)
	add("attn_out", f32, "attention output, input of o_proj", b, t, q)
	add("scores", f32, "attention scores of this step's queries over all ctx positions", b, heads, t, n)
	add("gate", f32, "MLP gate projection", b, t, inter)
	add("up", f32, "MLP up projection", b, t, inter)
	add("act", f32, "silu(gate)·up, input of down_proj", b, t, inter)
	if role.Last {
		add("logits", f32, "logits of the last position of each sequence only", b, vocab)
	}
	return bufs
}

// SumBytes returns the total size of bufs.
func SumBytes(bufs []Buffer) int64 {
	var n int64
	for _, b := range bufs {
		n += b.Bytes
	}
	return n
}
