// Package report turns measurement rows into summaries, deltas, markdown and plots.
// It is pure Go and depends on ember-core only for row types.
package report
