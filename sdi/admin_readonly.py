"""An admin mixin for records that are listed and read in the admin but change only through
their own service (feature history, import runs, schema changes, deleted layers, citizen
reports): no add, change or delete form, for anyone, superusers included."""


class NoManualEdits:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
