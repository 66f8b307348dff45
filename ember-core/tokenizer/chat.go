package tokenizer

import "strings"

// Message is one chat turn. Role is "system", "user" or "assistant" ("tool"
// messages are rendered as the template does, as tool responses inside a
// user turn); other roles are left out, as the template leaves them out.
type Message struct {
	Role    string
	Content string
}

// ChatPrompt renders messages with the Qwen3 chat template
// (Qwen/Qwen3-*/tokenizer_config.json, without tool definitions), byte for
// byte as transformers' apply_chat_template(tokenize=False) does:
//
//	<|im_start|>{role}\n{content}<|im_end|>\n
//
// A leading system message comes first. An assistant turn after the last user
// query keeps its reasoning as "<think>\n…\n</think>\n\n"; earlier ones lose
// their "<think>…</think>" part. With addGenerationPrompt it ends with
// "<|im_start|>assistant\n", followed by an empty "<think>\n\n</think>\n\n"
// when enableThinking is false. (With no messages at all the template
// itself fails; ChatPrompt returns just the generation prompt.)
func ChatPrompt(msgs []Message, addGenerationPrompt, enableThinking bool) string {
	var b strings.Builder
	if len(msgs) > 0 && msgs[0].Role == "system" {
		b.WriteString("<|im_start|>system\n" + msgs[0].Content + "<|im_end|>\n")
	}
	// The last user message that is not a wrapped tool response.
	lastQuery := len(msgs) - 1
	for i := len(msgs) - 1; i >= 0; i-- {
		c := msgs[i].Content
		if msgs[i].Role == "user" && !(strings.HasPrefix(c, "<tool_response>") && strings.HasSuffix(c, "</tool_response>")) {
			lastQuery = i
			break
		}
	}
	for i, m := range msgs {
		switch {
		case m.Role == "user" || (m.Role == "system" && i > 0):
			b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		case m.Role == "assistant":
			content, reasoning := splitThink(m.Content)
			if i > lastQuery && (i == len(msgs)-1 || reasoning != "") {
				b.WriteString("<|im_start|>assistant\n<think>\n" + strings.Trim(reasoning, "\n") +
					"\n</think>\n\n" + strings.TrimLeft(content, "\n"))
			} else {
				b.WriteString("<|im_start|>assistant\n" + content)
			}
			b.WriteString("<|im_end|>\n")
		case m.Role == "tool":
			if i == 0 || msgs[i-1].Role != "tool" {
				b.WriteString("<|im_start|>user")
			}
			b.WriteString("\n<tool_response>\n" + m.Content + "\n</tool_response>")
			if i == len(msgs)-1 || msgs[i+1].Role != "tool" {
				b.WriteString("<|im_end|>\n")
			}
		}
	}
	if addGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
		if !enableThinking {
			b.WriteString("<think>\n\n</think>\n\n")
		}
	}
	return b.String()
}

// splitThink mirrors the template's Python string handling:
//
//	reasoning = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')
//	content   = content.split('</think>')[-1].lstrip('\n')
func splitThink(content string) (rest, reasoning string) {
	first := strings.Index(content, "</think>")
	if first < 0 {
		return content, ""
	}
	r := strings.TrimRight(content[:first], "\n")
	if k := strings.LastIndex(r, "<think>"); k >= 0 {
		r = r[k+len("<think>"):]
	}
	last := strings.LastIndex(content, "</think>")
	return strings.TrimLeft(content[last+len("</think>"):], "\n"), strings.TrimLeft(r, "\n")
}
