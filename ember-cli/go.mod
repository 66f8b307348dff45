module github.com/ember-infer/ember/ember-cli

go 1.26

require (
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/urfave/cli/v2 v2.27.7 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
)

require github.com/ember-infer/ember/ember-core v0.0.0

replace github.com/ember-infer/ember/ember-core => ../ember-core

require (
	github.com/ember-infer/ember/ember-cuda v0.0.0
	github.com/ember-infer/ember/ember-report v0.0.0
)

replace (
	github.com/ember-infer/ember/ember-cuda => ../ember-cuda
	github.com/ember-infer/ember/ember-report => ../ember-report
)
