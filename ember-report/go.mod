module github.com/ember-infer/ember/ember-report

go 1.26
