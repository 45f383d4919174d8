// What the local node serves to its pods: git over smart HTTP, and plain files (standard library only).
module nbv.local/controlplane/nodeserve

go 1.24.0
