"""The contracts: every type a plugin implements, receives or returns, and the options it declares.

The bottom layer of sculptbench: nothing here imports from any other part of the framework.
The submodules are imported one by one (this package imports none of them), so reading results
(``report``, ``runs``) never imports torch.
"""
