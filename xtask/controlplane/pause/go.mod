// The node's sandbox process: holds a pod's namespaces until the runtime stops it (standard library only).
module nbv.local/controlplane/pause

go 1.24.0
