package tokenizer

import "testing"

// Expected prompts are written out by hand from the Qwen3 template (and
// were checked against jinja2 rendering the template of Qwen/Qwen3-0.6B).
func TestChatPrompt(t *testing.T) {
	type M = Message
	tests := []struct {
		name     string
		msgs     []Message
		gen      bool
		thinking bool
		want     string
	}{
		{
			name: "system and user, thinking",
			msgs: []M{{"system", "You are helpful."}, {"user", "Hi"}},
			gen:  true, thinking: true,
			want: "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
		},
		{
			name: "no thinking",
			msgs: []M{{"user", "Hi"}},
			gen:  true, thinking: false,
			want: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
		},
		{
			name: "no generation prompt ignores thinking",
			msgs: []M{{"user", "Hi"}},
			gen:  false, thinking: false,
			want: "<|im_start|>user\nHi<|im_end|>\n",
		},
		{
			name: "history loses its reasoning",
			msgs: []M{{"user", "1+1?"}, {"assistant", "<think>\nadd them\n</think>\n\n2"}, {"user", "times 3?"}},
			gen:  true, thinking: true,
			want: "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n" +
				"<|im_start|>user\ntimes 3?<|im_end|>\n<|im_start|>assistant\n",
		},
		{
			name: "last assistant keeps reasoning",
			msgs: []M{{"user", "q"}, {"assistant", "<think>r</think>a"}},
			want: "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\nr\n</think>\n\na<|im_end|>\n",
		},
		{
			name: "last assistant without reasoning gets an empty think block",
			msgs: []M{{"user", "q"}, {"assistant", "\n\nanswer"}},
			want: "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nanswer<|im_end|>\n",
		},
		{
			name: "tool turn between assistant turns",
			msgs: []M{{"user", "q"}, {"assistant", "<think>\nr1\n</think>\n\nA1"}, {"tool", "out"}, {"assistant", "A2"}},
			want: "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\nr1\n</think>\n\nA1<|im_end|>\n" +
				"<|im_start|>user\n<tool_response>\nout\n</tool_response><|im_end|>\n" +
				"<|im_start|>assistant\n<think>\n\n</think>\n\nA2<|im_end|>\n",
		},
		{
			name: "assistant after last query without reasoning stays plain",
			msgs: []M{{"user", "q"}, {"assistant", "A1"}, {"assistant", "A2"}},
			want: "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n" +
				"<|im_start|>assistant\n<think>\n\n</think>\n\nA2<|im_end|>\n",
		},
		{
			name: "several think tags",
			msgs: []M{{"user", "q"}, {"assistant", "x<think>\n\nold</think>\n<think>\nnew\n</think>\n\nfinal"}, {"user", "again"}},
			want: "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nfinal<|im_end|>\n<|im_start|>user\nagain<|im_end|>\n",
		},
		{
			name: "late system message renders like a turn",
			msgs: []M{{"user", "a"}, {"system", "b"}},
			want: "<|im_start|>user\na<|im_end|>\n<|im_start|>system\nb<|im_end|>\n",
		},
		{
			name: "unknown role is left out",
			msgs: []M{{"user", "a"}, {"narrator", "b"}},
			want: "<|im_start|>user\na<|im_end|>\n",
		},
		{
			name: "empty",
			gen:  true, thinking: false,
			want: "<|im_start|>assistant\n<think>\n\n</think>\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ChatPrompt(tt.msgs, tt.gen, tt.thinking); got != tt.want {
				t.Errorf("ChatPrompt =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestChatPromptEncodesSpecials(t *testing.T) {
	tk := loadTiny(t)
	ids := tk.Encode(ChatPrompt([]Message{{"user", "hello"}}, false, true))
	// <|im_start|> "user" (u not in the vocabulary: "s" "e" "r") "\n" "hello" <|im_end|> "\n"
	want := []int32{41, 7, 1, 5, 20, 29, 42, 20}
	if len(ids) != len(want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	for i := range ids {
		if ids[i] != want[i] {
			t.Fatalf("ids %v, want %v", ids, want)
		}
	}
}
