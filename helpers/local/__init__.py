"""The `local` backend: SageMaker's control plane, Neo and hosting on one laptop, offline.

    control       client side: start/stop/status of the backend process, its run file, env vars
    server        the backend process: moto + our hooks on one port, the runtime gateway on another
    context       LocalContext: what a hook knows about the server it runs in (work dir, moto URL)
    neo           the local Neo: CreateCompilationJob really compiles (hooks into moto)
    hosting       CreateEndpoint starts a real model server per endpoint (hooks into moto)
    model_server  the serving container: runs code/inference.py behind SageMaker's HTTP contract
    gateway       the SageMaker runtime (InvokeEndpoint) routed to those model servers

Only `neo` and `hosting` touch moto internals; tests/test_moto_contract.py pins what they use.
The compiler itself (`helpers.compiler`) and the facts both sides share (`helpers.sagemaker_facts`,
`helpers.local_names`) live one level up: nothing here imports a client-side module.
"""
