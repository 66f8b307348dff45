module github.com/ember-infer/ember/ember-cli

go 1.26.8
