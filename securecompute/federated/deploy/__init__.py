"""Real federated deployment on Flower (issue #18, extra ``[flower]``): processes, FRAG as a Flower app.

Modules: :mod:`.processes` (a local SuperLink and SuperNodes as a context manager, every process
stopped on exit), :mod:`.partyhost` (a FRAG party's long-lived process and the ClientApp's local
relay), :mod:`.transport` (FRAG's transport over Flower's Grid, and the querier's stand-in for a remote
party), :mod:`.frag_app` (the ServerApp and ClientApp; imports ``flwr``), :mod:`.project` (the Flower
app projects), :mod:`.federation` (a local FRAG federation: data, keys, processes, runs),
:mod:`.training` and :mod:`.train_app` (``RobustStrategy`` with a Byzantine client, and its in-process
twin), :mod:`.fedfix_app` and :mod:`.realclock` (FedFix on a real clock and its event-clock twins),
:mod:`.tls` (a CA, the SuperLink's certificate and SuperNode authentication keys, made with
``cryptography``) and :mod:`.commands` (``securecompute deploy frag|robust|fedfix`` and the demo-tour
step).  What runs where, what each process holds and what the SuperLink sees: ``protocols/deploy.md``.

Importing this package imports neither ``flwr`` nor TenSEAL.
"""
