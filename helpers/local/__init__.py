"""The `local` backend: SageMaker's control plane, Neo and hosting on one laptop, offline.

    control       client side: start/stop/status of the backend process, its run file, env vars
    server        the backend process: moto + our hooks on one port, the runtime gateway on another
    context       LocalContext: what a hook knows about the server it runs in (work dir, moto URL)
    neo           the local Neo: CreateCompilationJob really compiles (hooks into moto)
    compiler      TorchScript -> OpenVINO IR for this CPU: the compiler the local Neo runs
    hosting       CreateEndpoint starts a real model server per endpoint (hooks into moto)
    model_server  the serving container: runs code/inference.py behind SageMaker's HTTP contract
    serving_toolkit   which entry-script handler runs and how, as the SageMaker serving toolkit
    serving_defaults  the PyTorch container's default model_fn/input_fn/predict_fn/output_fn
    compiled_module   a local Neo artifact as a torch.nn.Module (what the Neo container hands over)
    gateway       the SageMaker runtime (InvokeEndpoint) routed to those model servers

Only `neo` and `hosting` touch moto internals; tests/test_moto_contract.py pins what they use.
"""
