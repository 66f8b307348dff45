module github.com/ember-infer/ember/ember-cuda

go 1.26.0

require github.com/ember-infer/ember/ember-core v0.0.0

require (
	github.com/dlclark/regexp2 v1.12.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/text v0.44.0 // indirect
)

require golang.org/x/sys v0.50.0 // indirect

replace github.com/ember-infer/ember/ember-core => ../ember-core
