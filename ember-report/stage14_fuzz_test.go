package report

import "testing"

// FuzzStage14Inputs: any stage 1.2 summary, stage 1.3 sweep and policy CSV
// text either yields the four files or an error, never a panic.
func FuzzStage14Inputs(f *testing.F) {
	f.Add([]byte("split,mode,prompt_len,decode_steps,prefill_wall_ms,decode_per_token_ms\n9+27,overlap,2048,128,100.000,2.500\n"),
		[]byte("prefix_len,num_docs,cache_prefix_once_ms,cache_suffix_total_ms\n1024,10,40,300\n"), []byte("policy,round,recompute_ratio\nupdate_locality,1,0.5\n"))
	f.Add([]byte("split,mode\n\"9+27\",overlap,extra\n"), []byte("prefix_len,num_docs\n1024,0\n"), []byte(""))
	f.Fuzz(func(t *testing.T, base, prefix, policy []byte) {
		b, err := ReadDictCSV(base)
		if err != nil {
			return
		}
		in := Stage14Input{Base: b, Split: "9+27", Mode: "overlap", PromptLen: 2048, DecodeSteps: 128, NumPrompts: 2, NumCandidates: 3,
			NumRounds: 2, NumGPUs: 2, PrefixLen: 1024, LocalityRatio: 0.5, PolicyName: "update_locality"}
		if p, err := ReadDictCSV(prefix); err == nil && len(prefix) > 0 {
			in.Prefix = p
		}
		if p, err := ReadDictCSV(policy); err == nil && len(policy) > 0 {
			in.Policy = p
		}
		files, err := Stage14(in)
		if err == nil && len(files) != 4 {
			t.Fatalf("%d files", len(files))
		}
	})
}
