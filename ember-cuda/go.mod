module github.com/ember-infer/ember/ember-cuda

go 1.26
