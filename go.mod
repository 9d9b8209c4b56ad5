module github.com/mesh-cni/mesh-cni

go 1.24.0
