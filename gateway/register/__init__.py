"""The can't-get-it-done register (办不成事): register a case, assign its task force,
answer it, read it and list the register. The API's controller and the console's pages
both go through gateway.register.service."""
