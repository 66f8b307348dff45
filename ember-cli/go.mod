module github.com/ember-infer/ember/ember-cli

go 1.26.0

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/aclements/go-moremath v0.0.0-20210112150236-f10218a38794 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/dlclark/regexp2 v1.12.0 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
	golang.org/x/image v0.46.0 // indirect
	golang.org/x/perf v0.0.0-20260908200009-22c9c6c9d4da // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	gonum.org/v1/plot v0.17.0 // indirect
)

require github.com/ember-infer/ember/ember-core v0.0.0

replace github.com/ember-infer/ember/ember-core => ../ember-core

require (
	github.com/ember-infer/ember/ember-cuda v0.0.0
	github.com/ember-infer/ember/ember-report v0.0.0
	github.com/urfave/cli/v2 v2.27.7
	golang.org/x/term v0.48.0
)

replace (
	github.com/ember-infer/ember/ember-cuda => ../ember-cuda
	github.com/ember-infer/ember/ember-report => ../ember-report
)
