module github.com/ember-infer/ember/ember-core

go 1.26.8
