"""The `local` backend: SageMaker's control plane, Neo and hosting on one laptop, offline.

    control              the client side's one entry: start/stop/status of the backend, env vars
    run_file             RunInfo: one running backend (pid, URLs, work dir), its run file
    server               the backend process: moto + the services on one port, the gateway on another
    moto_patch           the one way the services change moto: named patches, undone as one
    compilation_service  the local Neo: CreateCompilationJob really compiles, StopCompilationJob
    compilation_steps    the local Neo's checks and steps, each failing with Neo's wording
    hosting_service      the hosting patch: names checked, CreateEndpoint / UpdateEndpoint / DeleteEndpoint
    hosted_endpoint      one endpoint's life: create, replace a dead model server, update, stop
    endpoint_instance    one model server behind an endpoint: launch, health check, restart budget
    resource_names       SageMaker's name rules (patterns, no duplicates), worded like AWS
    hosting_steps        its steps (container lookup, model data fetch, health check), failing with reasons
    model_server         the serving container: runs code/inference.py behind SageMaker's HTTP contract
    serving_toolkit      which entry-script handler runs and how, as the SageMaker serving toolkit
    serving_defaults     the PyTorch container's default model_fn/input_fn/predict_fn/output_fn
    compiled_module      a local Neo artifact as a torch.nn.Module (what the Neo container hands over)
    gateway              the SageMaker runtime (InvokeEndpoint) routed to those model servers
    processes            child environment, free ports, HTTP liveness, log tails, stopping

Only the two services (and the name rules they call) touch moto internals (each lists them in MOTO_INTERNALS;
tests/test_moto_contract.py pins them). The compiler (`helpers.compiler`), the facts both sides
share (`helpers.sagemaker_facts`, `helpers.local_names`) and the polling helper
(`helpers.polling`) live one level up: nothing here imports a client-side module.
"""
