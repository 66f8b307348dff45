package synth

// corpus is the text synthetic tokenizers are trained on: plain English about
// the things Ember users do, some code, numbers, chat markup and a little of
// other scripts, so that merges cover common words and every script still
// round-trips through the 256 byte tokens.
const corpus = `Hello, my name is Ember. I run Qwen3 models on one or two GPUs and measure where the time goes.
The quick brown fox jumps over the lazy dog. The lazy dog sleeps in the sun while the fox runs away.
A language model reads a prompt, one token at a time, and predicts the next token. Prefill processes the
whole prompt at once; decode produces one token per step and reads every weight from memory each time.
That is why decode is limited by memory bandwidth and prefill by arithmetic throughput.
Explain KV caches: the keys and values of every earlier position are kept so that attention at the next
position does not recompute them. The cache grows with the context: layers times sequence times heads.
When the model does not fit on one GPU, split the layers across two GPUs. The hidden state crosses from the
first device to the second after the last layer of the first part. With chunked prefill, the first GPU can
work on the next chunk while the second GPU works on the current one; that is the overlap.
Once upon a time there was a small model that wanted to be fast. It learned to read its weights in place,
to keep its caches warm, and to never copy what it did not need. Every morning it measured itself again.
What is the capital of France? The capital of France is Paris. What is two plus two? Two plus two is four.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 42 100 256 1024 2048 4096 32768 3.14159 2.71828 1e-6 12GiB 24 GiB.
Dates and times: 2026-11-25 21:37:38, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday.
func main() { fmt.Println("hello, world") }
for i := 0; i < n; i++ { sum += a[i] * b[i] }
def forward(self, x): return self.down(F.silu(self.gate(x)) * self.up(x))
if err != nil { return fmt.Errorf("open %s: %w", path, err) }
<|im_start|>user
What does RMSNorm do?<|im_end|>
<|im_start|>assistant
It divides each vector by the root mean square of its entries and scales the result by a learned weight.<|im_end|>
I'm sure you'll see that we've done it; they're here, isn't it? She'd said he'd come. We'll see. DON'T PANIC.
Ça va très bien, merci. Größe, Straße, naïve café, résumé, São Paulo, Zürich, Ångström.
Привет, как дела? Это тестовая строка. Γειά σου κόσμε. שלום עולם. مرحبا بالعالم.
你好，世界。我们今天测试模型。日本語のテキストもあります。한국어 문장도 있습니다.
Emoji: 🙂 🚀 🔥 👍🏽 👩‍💻 🇫🇷 ❤️ ✨
Tabs	and	spaces   and
newlines

end.
`

// Corpus returns the training text.
func Corpus() []string {
	return []string{corpus}
}
