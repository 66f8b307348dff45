module github.com/ember-infer/ember/ember-cuda

go 1.26.0

require (
	github.com/ember-infer/ember/ember-core v0.0.0
	github.com/x448/float16 v0.8.4
)

require (
	github.com/NVIDIA/go-nvml v0.13.4-1
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/ember-infer/ember/ember-core => ../ember-core
