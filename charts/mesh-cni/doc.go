// Package chart holds the Helm chart users install with
// `helm install mesh-cni charts/mesh-cni -n mesh-cni --create-namespace`;
// its Go tests lint and render it with Helm (test/tools/build.sh builds
// it) and hold it equal to deploy/'s kustomize base. .helmignore keeps
// the Go files and testdata/ out of the chart.
package chart
