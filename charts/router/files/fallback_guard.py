"""LiteLLM pre-call hook: the hosted fallback routes are for the router's own fallbacks only.

A client that asks for a model named `hosted-fallback:...` gets 404, as for any unknown model; the
router still falls back to those routes, because fallbacks run inside the router after this hook.
Loaded by `litellm_settings.callbacks: [fallback_guard.guard]` from the config file's directory.
"""

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

FALLBACK_PREFIX = "hosted-fallback:"


class FallbackGuard(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        if str(data.get("model", "")).startswith(FALLBACK_PREFIX):
            raise HTTPException(status_code=404, detail={"error": f"model {data['model']} does not exist"})
        return data


guard = FallbackGuard()
