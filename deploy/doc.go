// Package deploy holds the kustomize base users apply with
// `kubectl apply -k deploy/`; its Go tests check what `kubectl kustomize`
// renders from it.
package deploy
